"""The embedded demo: seeded synthetic corpora in the IEMOCAP and MELD release layouts.

The trees are read by the same readers as the real releases (see docs/corpus-formats.md).
Speech is synthesised with eSpeak NG so that the papers' effects can show on a laptop:
prosody carries arousal, words carry valence, and a share of utterances has uninformative
or incongruent words, so that audio and text each matter and fusion beats both.

Modules, shared parts first:

* :mod:`mlser.demo.tts` -- text to 16 kHz speech with libespeak-ng;
* :mod:`mlser.demo.base` -- the spec base class and the size of a written tree;
* :mod:`mlser.demo.sampling` -- seeded draws (one item, labels in fixed proportions);
* :mod:`mlser.demo.text` -- the demo language: vocabulary and sentences per emotion;
* :mod:`mlser.demo.voice` -- speakers, prosody per emotion label, rendered noisy speech;
* :mod:`mlser.demo.iemocap` -- the ``IEMOCAP_full_release`` corpus (:func:`generate_iemocap`);
* :mod:`mlser.demo.meld` -- the ``MELD.Raw`` corpus (:func:`generate_meld`, :func:`write_mp4`);
* :mod:`mlser.demo.read_speech` -- unlabelled read speech for pretraining
  (:func:`generate_read_speech`);
* :mod:`mlser.demo.commands` -- the ``mlser synthesize`` step that runs them.
"""
