"""Turning exploration models into domain objects, as Oppia's
``exp_fetchers`` did."""

from __future__ import annotations

from models import exp_domain
from models import exp_models


def get_exploration_from_model(
        model: exp_models.ExplorationModel) -> exp_domain.Exploration:
    """The domain object of an exploration model: a view over the model's
    values, which must not change while it is in use.

    Raises ValueError naming the exploration and the state if the states,
    a state or its interaction is not a dict.
    """
    try:
        states = exp_domain.states_of(model.states or {})
    except exp_domain.StateDataError as e:
        raise ValueError('ExplorationModel %r: %s' % (model.id, e)) from e
    return exp_domain.Exploration.of(model, states)
