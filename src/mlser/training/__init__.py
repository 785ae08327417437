"""Training: the shared loop (``loop``), checkpoints, model files, and one module per
family, each beside its rule file in ``workflow/rules/``:

- ``pretraining``: acoustic pre-training (``pretraining.smk``);
- ``multilevel``: gao2024 / gao2025 stage 1 and stage 2 (``multilevel.smk``);
- ``lemer``: wang2023 LE-MER (``lemer.smk``);
- ``hierarchical``: alqurashi2024 (``hierarchical.smk``).
"""
