"""Evaluation harness (issue #7): benchmarks, think-format prompts, answer checking, metrics, paired
bootstrap, steering sweeps and controls (frequency- and push-matched random features, the word ban),
and the protocol's gates (:mod:`~tl_reasoning.evaluation.criteria`).

* :func:`load_eval_benchmark` — the organism or local AIME-2024 / MATH-500 / GPQA files → :class:`EvalItem`.
* :func:`evaluate` — generate under conditions (baseline, steerings, word bans, averaged controls)
  and return an :class:`EvaluationResult` (records, summary with bootstrap CIs, save/load, plot).
* :func:`steering_conditions`, :func:`random_feature_conditions`, :func:`matched_random_features`,
  :class:`WordBan`, :class:`RandomWordBans` — the conditions of a paper-style table.
* :func:`add_logits_processor` — edit logits during generation under a position rule, any backend.

See ``docs/evaluation.md``.
"""

from tl_reasoning.evaluation.answers import (
    answer_section,
    check_answer,
    extract_answer,
    extract_boxed,
    extract_choice,
    grade,
    math_equal,
    normalize_math_answer,
)
from tl_reasoning.evaluation.benchmarks import (
    ANSWER_TYPES,
    BENCHMARK_FORMATS,
    EvalItem,
    detect_format,
    load_eval_benchmark,
)
from tl_reasoning.evaluation.bootstrap import BootstrapResult, paired_bootstrap, paired_bootstrap_runs
from tl_reasoning.evaluation.controls import (
    DEFAULT_CONTROLS,
    DEFAULT_PUSH_TOLERANCE,
    ControlShortfallWarning,
    MatchedControls,
    MatchedFeature,
    activation_frequencies,
    matched_random_features,
)
from tl_reasoning.evaluation.criteria import GATES, Criteria, criteria_text, gate_values
from tl_reasoning.evaluation.harness import (
    Averaged,
    EvalProgress,
    evaluate,
    random_feature_conditions,
    stderr_progress,
    steering_conditions,
)
from tl_reasoning.evaluation.logits import LogitsProcessorHandle, add_logits_processor, logits_processor
from tl_reasoning.evaluation.metrics import (
    GenerationMetrics,
    WordCounter,
    generation_metrics,
    maj_at_k,
    majority_vote,
    repetition_rate,
)
from tl_reasoning.evaluation.prompting import PROMPT_TEMPLATES, build_prompt, build_prompts
from tl_reasoning.evaluation.results import EvaluationResult, format_table
from tl_reasoning.evaluation.wordban import (
    RandomWordBans,
    WordBan,
    add_word_ban,
    random_word_bans,
    thinking_word_distribution,
    word_ban,
)

__all__ = [
    "ANSWER_TYPES",
    "BENCHMARK_FORMATS",
    "DEFAULT_CONTROLS",
    "DEFAULT_PUSH_TOLERANCE",
    "GATES",
    "PROMPT_TEMPLATES",
    "Averaged",
    "BootstrapResult",
    "ControlShortfallWarning",
    "Criteria",
    "EvalItem",
    "EvalProgress",
    "EvaluationResult",
    "GenerationMetrics",
    "LogitsProcessorHandle",
    "MatchedControls",
    "MatchedFeature",
    "RandomWordBans",
    "WordBan",
    "WordCounter",
    "activation_frequencies",
    "add_logits_processor",
    "add_word_ban",
    "answer_section",
    "build_prompt",
    "build_prompts",
    "check_answer",
    "criteria_text",
    "detect_format",
    "evaluate",
    "extract_answer",
    "extract_boxed",
    "extract_choice",
    "format_table",
    "gate_values",
    "generation_metrics",
    "grade",
    "load_eval_benchmark",
    "logits_processor",
    "maj_at_k",
    "majority_vote",
    "matched_random_features",
    "math_equal",
    "normalize_math_answer",
    "paired_bootstrap",
    "paired_bootstrap_runs",
    "random_feature_conditions",
    "random_word_bans",
    "repetition_rate",
    "steering_conditions",
    "stderr_progress",
    "thinking_word_distribution",
    "word_ban",
]
