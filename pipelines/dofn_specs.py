"""Beam's lookup of a DoFn's user state and timer specs, remembered.

Beam looks up a DoFn's state and timer specs
(``apache_beam.transforms.userstate.get_dofn_specs``) whenever it makes a
DoFnSignature: for each ParDo while a pipeline is built and turned into its
proto, and again for each DoFn of a stage whenever a bundle processor is
made, in the launching process and in every worker. Each lookup inspects
the signature of every method the DoFn has, about 35, most of them
DoFn's own: about 1.2 ms a lookup. Over 10,000 explorations, a run in one
process made 86 of them (about 0.1 s, a sixth of the run), and a run on
2 workers 28 more in each worker for its three stages.

The specs are default values of the methods' parameters, so they follow
from which function each method is. ``install()`` makes Beam remember them
for each DoFn class and set of methods: a DoFn whose methods are the
functions seen before gets the specs found then. A DoFn that gives the
arguments of one of its methods itself (``_inspect_<method>``: Beam's
wrapper of a Map or FlatMap callable has ``_inspect_process``, which reads
the callable, and it is a method when the callable is a bound method) is
looked up every time, as before, and so is one for which the lookup
raised.
"""

from __future__ import annotations

import types
from typing import Any

from apache_beam.transforms import userstate

_BEAMS_GET_DOFN_SPECS = userstate.get_dofn_specs

# (DoFn class, ((method name, function), ...)) -> (state specs, timer
# specs). Bounded by the DoFn classes and methods a process uses. Two
# threads that miss at once both ask Beam, for the same answer.
_specs: dict[tuple, tuple[frozenset, frozenset]] = {}


def _methods_key(dofn: Any) -> tuple | None:
    """What the specs of dofn follow from: its class and the function of
    each of its methods (what Beam inspects: the attributes that are bound
    methods); None if a method's arguments come from elsewhere (an
    _inspect_<method> of the DoFn, which Beam calls instead)."""
    methods = []
    for name in dir(dofn):
        method = getattr(dofn, name, None)
        if isinstance(method, types.MethodType):
            if hasattr(dofn, '_inspect_' + name):
                return None
            methods.append((name, method.__func__))
    return type(dofn), tuple(methods)


def get_dofn_specs(dofn: Any) -> tuple[set, set]:
    """Beam's get_dofn_specs(dofn), computed once per DoFn class and set
    of methods."""
    key = _methods_key(dofn)
    if key is None:
        return _BEAMS_GET_DOFN_SPECS(dofn)
    try:
        state_specs, timer_specs = _specs[key]
    except KeyError:
        found = _BEAMS_GET_DOFN_SPECS(dofn)  # May raise: not remembered.
        state_specs, timer_specs = frozenset(found[0]), frozenset(found[1])
        _specs[key] = state_specs, timer_specs
    # New sets, as Beam's own lookup gives.
    return set(state_specs), set(timer_specs)


def install() -> None:
    """Makes Beam's lookups of DoFn specs in this process go through
    get_dofn_specs (Beam's callers look the function up in its module on
    each call)."""
    userstate.get_dofn_specs = get_dofn_specs
