"""Exploration models: the lessons of the example application."""

from __future__ import annotations

from models import base_models
from models import properties as props


class ExplorationModel(base_models.BaseModel):
    """An exploration: a graph of states, each with content and an
    interaction.

    ``states`` maps a state name to a dict of the form::

        {'content': {'content_id': ..., 'html': ...},
         'interaction': {'id': 'TextInput', 'customization_args': {...},
                         'answer_groups': [...], 'default_outcome': {...},
                         'hints': [...], 'solution': None},
         'param_changes': [], 'classifier_model_id': None}
    """

    title = props.StringProperty(default='')
    category = props.StringProperty(default='')
    objective = props.StringProperty(default='')
    language_code = props.StringProperty(default='en')
    tags = props.JsonProperty(default=[])
    init_state_name = props.StringProperty(required=True)
    states = props.JsonProperty(default={})
    states_schema_version = props.IntegerProperty(default=0)
