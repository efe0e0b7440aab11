"""Turning exploration models into domain objects, as Oppia's
``exp_fetchers`` did."""

from __future__ import annotations

from models import exp_domain
from models import exp_models


def get_exploration_from_model(
        model: exp_models.ExplorationModel) -> exp_domain.Exploration:
    """The domain object of an exploration model.

    Raises ValueError naming the exploration and state if a state is not a
    dict.
    """
    states = {}
    for name, state in (model.states or {}).items():
        if not isinstance(state, dict):
            raise ValueError(
                'ExplorationModel %r: state %r is a %s, not a dict'
                % (model.id, name, type(state).__name__))
        states[name] = exp_domain.State.from_dict(state)
    return exp_domain.Exploration(
        id=model.id,
        title=model.title,
        category=model.category,
        language_code=model.language_code,
        init_state_name=model.init_state_name,
        states=states,
        states_schema_version=model.states_schema_version)
