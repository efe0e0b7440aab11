"""One-off jobs over explorations."""

from __future__ import annotations

from beam_jobs import jobs
from models import exp_fetchers
from models import exp_models


class InteractionAuditOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Job that produces a list of (exploration, state) pairs, grouped by the
    interaction they use.
    """
    @classmethod
    def enqueue(cls, job_id, additional_job_params=None):
        super(InteractionAuditOneOffJob, cls).enqueue(
            job_id, shard_count=64)

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        exploration = exp_fetchers.get_exploration_from_model(item)
        for state_name, state in exploration.states.items():
            exp_and_state_key = '%s %s' % (item.id, state_name)
            yield (state.interaction.id, exp_and_state_key)

    @staticmethod
    def reduce(key, values):
        # Sorted: values come in no particular order.
        yield (key, sorted(values))


class ExplorationStatesAuditOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """Finds explorations whose state graph is broken, by problem:

    - INIT_STATE_MISSING: init_state_name is not one of the states;
    - DANGLING_DESTINATION: an outcome leads to a state that does not exist;
    - NO_INTERACTION: a state has no interaction id.

    Outputs (problem, number of explorations, sorted exploration ids).
    """

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        for problem in state_graph_problems(item.init_state_name,
                                            item.states):
            yield (problem, item.id)

    @staticmethod
    def reduce(key, values):
        yield (key, len(values), sorted(values))


def state_graph_problems(init_state_name: str, states: dict | None
                         ) -> list[str]:
    """The problems of ExplorationStatesAuditOneOffJob an exploration with
    this initial state name and these states (stored dicts) has, sorted."""
    states = states or {}
    problems = set()
    if init_state_name not in states:
        problems.add('INIT_STATE_MISSING')
    for state in states.values():
        interaction = state.get('interaction') or {}
        if not interaction.get('id'):
            problems.add('NO_INTERACTION')
        outcomes = [group.get('outcome') or {}
                    for group in interaction.get('answer_groups') or []]
        outcomes.append(interaction.get('default_outcome') or {})
        for outcome in outcomes:
            dest = outcome.get('dest')
            if dest is not None and dest not in states:
                problems.add('DANGLING_DESTINATION')
    return sorted(problems)


class InteractionCountOneOffJob(jobs.BaseMapReduceOneOffJobManager):
    """How many states of live explorations use each interaction.

    Outputs 'interaction id: count' (interaction id None for a state
    without one). Its combiner sums partial counts before the shuffle.
    """

    @classmethod
    def entity_classes_to_map_over(cls):
        return [exp_models.ExplorationModel]

    @staticmethod
    def map(item):
        if item.deleted:
            return
        exploration = exp_fetchers.get_exploration_from_model(item)
        for state in exploration.states.values():
            yield (state.interaction.id, 1)

    @staticmethod
    def combine(key, values):
        yield sum(values)

    @staticmethod
    def reduce(key, values):
        yield '%s: %d' % (key, sum(values))
