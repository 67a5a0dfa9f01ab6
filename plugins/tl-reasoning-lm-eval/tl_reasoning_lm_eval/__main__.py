"""``python -m tl_reasoning_lm_eval``: the same as the ``tl-reasoning-lm-eval`` command."""

from tl_reasoning_lm_eval.cli import main

raise SystemExit(main())
