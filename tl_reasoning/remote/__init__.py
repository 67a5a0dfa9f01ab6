"""Remote execution of scoring and steering on NDIF (or nnsight's local simulation, or any host).

``remote=`` on :func:`tl_reasoning.score_features`, :func:`tl_reasoning.scoring.collect_stats`
and :func:`tl_reasoning.steering.generate` accepts ``True`` (NDIF), ``"local"``, a host URL or a
:class:`RemoteTarget`. See ``docs/remote.md``.
"""

from tl_reasoning.remote.encoder import EncoderWeights, encode_dense
from tl_reasoning.remote.errors import (
    MissingAPIKeyError,
    ModelNotHostedError,
    RemoteAuthError,
    RemoteConnectionError,
    RemoteExecutionError,
    RemoteServerError,
    RemoteTimeoutError,
    RemoteVersionError,
    redact,
)
from tl_reasoning.remote.plan import MODES, ModeChoice, choose_mode
from tl_reasoning.remote.target import NDIF_HOST, RemoteLike, RemoteTarget, resolve_remote

__all__ = [
    "MODES", "NDIF_HOST", "EncoderWeights", "MissingAPIKeyError", "ModeChoice", "ModelNotHostedError",
    "RemoteAuthError", "RemoteConnectionError", "RemoteExecutionError", "RemoteLike", "RemoteServerError",
    "RemoteTarget", "RemoteTimeoutError", "RemoteVersionError", "choose_mode", "encode_dense", "redact",
    "resolve_remote",
]
