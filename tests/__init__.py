"""EnPrompt's test suite, and the helper modules its files share.

A test file imports a helper as ``from tests.<module> import <name>``; the
repository root is on ``sys.path`` (``pythonpath = .`` in pytest.ini), so this
works for the whole suite, for one file (``python -m pytest tests/FILE``) and
for the helper scripts tests start (``python -m tests.dual_engine_probe``).

Shared helpers, one concern each (every module's docstring lists its names):

* ``tests.paths``: ``REPO`` and the config files (``DTD_CFG``,
  ``BASE2NEW_CFG``, ``dataset_config``, ``trainer_config``).
* ``tests.configs``: ``make_cfg(*opts)``, a fresh default config.
* ``tests.train_py``: train.py's command line (``train_argv``, ``dtd_argv``)
  and a trainer built as it builds one (``trainer_from_argv``,
  ``dtd_trainer``); ``main_in_process``.
* ``tests.child_process``: ``child_env``, ``run_train_py``,
  ``assert_succeeded`` and ``kill_after_first_checkpoint``.
* ``tests.trainer_tools``: ``train_until_killed``, ``record_results``,
  ``logits_on_test_set``, ``top1_accuracy``.
* ``tests.log_patterns``: ``RESULT_BLOCK``, ``result_blocks``,
  ``final_result``, ``epoch_losses``.
* ``tests.comparisons``: ``state_copy``, ``assert_same``,
  ``assert_same_weights``.
* ``benchmarks.op_count``: ``count_ops``, shared with the benchmark.

Test data and fixtures: ``conftest.py`` (the tiny CLIP, one torch thread),
``tests.fake_data`` (the 15 datasets), ``tests.engine_toys`` (a toy trainer
for the engine), ``tests.synthetic_logs`` (log files for the result parsers),
``tests.script_helpers`` (running ``scripts/enprompt/*.sh``), ``tests.sweep_runs``
(running ``python -m enprompt.sweep``, with the sweep fixtures),
``tests.log_tee``, ``tests.dassl_reference``, ``tests.dual_engine_probe`` and
``tests.ddp_workers`` (one training step in one or several processes).
"""
