"""User models of the example application."""

from __future__ import annotations

from models import base_models
from models import properties as props


class UserSettingsModel(base_models.BaseModel):
    """A user's settings. ``username`` is None until the user picks one."""

    email = props.StringProperty(required=True)
    username = props.StringProperty()
    last_logged_in = props.DateTimeProperty()
    preferred_language_codes = props.JsonProperty(default=[])
