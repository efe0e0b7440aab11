"""Turning exploration models into domain objects, as Oppia's
``exp_fetchers`` did."""

from __future__ import annotations

from models import exp_domain
from models import exp_models

_state_view = exp_domain.State.from_dict


def get_exploration_from_model(
        model: exp_models.ExplorationModel) -> exp_domain.Exploration:
    """The domain object of an exploration model: a view over the model's
    values, which must not change while it is in use.

    Raises ValueError naming the exploration and state if a state is not a
    dict.
    """
    states = {}
    for name, state in (model.states or {}).items():
        if not isinstance(state, dict):
            raise ValueError(
                'ExplorationModel %r: state %r is a %s, not a dict'
                % (model.id, name, type(state).__name__))
        states[name] = _state_view(state)
    return exp_domain.Exploration.of(model, states)
