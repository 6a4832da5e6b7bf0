"""Provider simulator: AI/ML API and ElevenLabs on loopback, with fault injection.

Run ``python -m bot.simulator`` for operators, or use ``Simulator`` in tests::

    sim = Simulator(timings=Timings.fast())
    await sim.start()            # http://127.0.0.1:<free port>
    sim.faults.add(Fault(service="aimlapi", op="poll", kind="server_error", times=1))
    ...
    await sim.stop()

See ``faults`` for the fault-injection API and ``control`` for the ``/_sim/`` routes.
This package never imports discord.
"""

from .app import Simulator
from .config import (
    DEFAULT_AIMLAPI_KEY,
    DEFAULT_ELEVENLABS_KEY,
    AimlapiAccount,
    ElevenLabsAccount,
    ModelTiming,
    Pricing,
    Timings,
)
from .faults import Fault, FaultRegistry
from .state import RecordedRequest

__all__ = [
    "DEFAULT_AIMLAPI_KEY",
    "DEFAULT_ELEVENLABS_KEY",
    "AimlapiAccount",
    "ElevenLabsAccount",
    "Fault",
    "FaultRegistry",
    "ModelTiming",
    "Pricing",
    "RecordedRequest",
    "Simulator",
    "Timings",
]
