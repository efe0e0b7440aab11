"""Generated but realistic example data for demos, tests and benchmarks.

Deterministic for a given seed: the same call writes the same models with
the same ids, so seeding twice leaves one copy. A small share of the
explorations is broken on purpose (for ExplorationStatesAuditOneOffJob) and
a small share of every kind is marked deleted.
"""

from __future__ import annotations

import datetime
import random
from typing import Iterator

from models import base_models
from models import exp_models
from models import user_models

INTERACTION_IDS = (
    'TextInput', 'MultipleChoiceInput', 'NumericInput', 'ItemSelectionInput',
    'Continue', 'DragAndDropSortInput', 'FractionInput', 'ImageClickInput',
    'MathEquationInput', 'SetInput')
CATEGORIES = ('Algebra', 'Arithmetic', 'Biology', 'Chemistry', 'Geography',
              'History', 'Languages', 'Music', 'Physics', 'Programming')
LANGUAGES = ('en', 'en', 'en', 'es', 'hi', 'pt', 'fr', 'ar')
EMAIL_DOMAINS = ('gmail.com', 'example.org', 'school.edu', 'yahoo.com',
                 'outlook.com', 'oppia.org')
WORDS = ('fraction', 'river', 'planet', 'melody', 'atom', 'empire', 'verb',
         'triangle', 'cell', 'loop', 'island', 'ratio', 'photon', 'poem')
BATCH_SIZE = 1000
_EPOCH = datetime.datetime(2020, 1, 1)


def exploration_id(index: int) -> str:
    return 'exp-%07d' % index


def user_id(index: int) -> str:
    return 'uid_%07d' % index


def _state(rng: random.Random, interaction_id: str | None,
           dest: str | None) -> dict:
    answer_groups = []
    if interaction_id not in (None, 'Continue', 'EndExploration'):
        for _ in range(rng.randint(1, 3)):
            answer_groups.append({
                'rule_specs': [{'rule_type': 'Equals',
                                'inputs': {'x': rng.choice(WORDS)}}],
                'outcome': {'dest': dest, 'feedback': {
                    'content_id': 'feedback_%d' % rng.randrange(100),
                    'html': '<p>Good try!</p>'}, 'labelled_as_correct':
                    rng.random() < 0.5}})
    return {
        'content': {'content_id': 'content',
                    'html': '<p>%s</p>' % ' '.join(
                        rng.choice(WORDS) for _ in range(rng.randint(5, 30)))},
        'interaction': {
            'id': interaction_id,
            'customization_args': {'placeholder': {'value': ''}},
            'answer_groups': answer_groups,
            'default_outcome': None if dest is None else {
                'dest': dest, 'feedback': {'content_id': 'default_outcome',
                                           'html': ''}},
            'hints': [], 'solution': None},
        'param_changes': [],
    }


def make_exploration(index: int, seed: int = 0) -> exp_models.ExplorationModel:
    """The index-th demo exploration."""
    rng = random.Random('%d/exp/%d' % (seed, index))
    names = ['Introduction'] + [
        'Question %d' % i for i in range(1, rng.randint(1, 7))] + ['End']
    states = {}
    for position, name in enumerate(names):
        if name == 'End':
            states[name] = _state(rng, 'EndExploration', None)
        else:
            states[name] = _state(
                rng, rng.choice(INTERACTION_IDS), names[position + 1])
    init_state_name = 'Introduction'
    breakage = rng.random()
    if breakage < 0.01:
        init_state_name = 'Intro'  # Renamed state, stale pointer.
    elif breakage < 0.02:
        states['Introduction']['interaction']['default_outcome'] = {
            'dest': 'Deleted state', 'feedback': {}}
    elif breakage < 0.03:
        states[names[-2]]['interaction']['id'] = None
    return exp_models.ExplorationModel(
        id=exploration_id(index),
        title='%s and the %s' % (rng.choice(WORDS).title(), rng.choice(WORDS)),
        category=rng.choice(CATEGORIES),
        objective='Learn about %s' % rng.choice(WORDS),
        language_code=rng.choice(LANGUAGES),
        tags=rng.sample(WORDS, rng.randint(0, 3)),
        init_state_name=init_state_name,
        states=states,
        states_schema_version=rng.choice((41, 42, 43)),
        deleted=rng.random() < 0.05)


def make_user(index: int, seed: int = 0) -> user_models.UserSettingsModel:
    """The index-th demo user."""
    rng = random.Random('%d/user/%d' % (seed, index))
    username = None
    if rng.random() < 0.9:
        digits = rng.randint(0, 6)
        username = '%s%d' % (rng.choice(WORDS), rng.randrange(10 ** digits))
    logged_in = None
    if rng.random() < 0.95:
        logged_in = _EPOCH + datetime.timedelta(
            seconds=rng.randrange(6 * 365 * 24 * 3600))
    return user_models.UserSettingsModel(
        id=user_id(index),
        email='%s.%d@%s' % (rng.choice(WORDS), index,
                            rng.choice(EMAIL_DOMAINS)),
        username=username,
        last_logged_in=logged_in,
        preferred_language_codes=[rng.choice(LANGUAGES)],
        deleted=rng.random() < 0.03)


def _batches(models: Iterator[base_models.BaseModel]
             ) -> Iterator[list[base_models.BaseModel]]:
    batch = []
    for model in models:
        batch.append(model)
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(explorations: int, users: int, seed: int = 0) -> None:
    """Writes the first N demo explorations and users to the current store,
    a batch (one transaction) at a time."""
    for batch in _batches(make_exploration(i, seed)
                          for i in range(explorations)):
        base_models.BaseModel.put_multi(batch)
    for batch in _batches(make_user(i, seed) for i in range(users)):
        base_models.BaseModel.put_multi(batch)
