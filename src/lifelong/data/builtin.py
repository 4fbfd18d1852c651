"""Small offline streams generated from a seed, so the quickstart and the tests need no files.

``builtin``: every sentence mentions a topic, a sentiment, a colour and a place; task k labels the
sentence by attribute k only. The tasks share their inputs but disagree on what matters, so a shared
encoder fine-tuned on one task after another visibly forgets the earlier ones. Each label is given by
one keyword (several synonyms per class), which a tiny model learns from a few hundred examples.

``builtin-domain`` (domain-incremental: one label set): every task labels the verdict of sentences about
one topic, given by a property word ("long", "loud", "hot", ...) whose polarity depends on the domain,
as in real reviews (a long battery life is good, a long queue is not). The topic word tells the domains
apart, so joint training can solve all of them, but sequential training overwrites earlier domains.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from lifelong.data.benchmarks import GENERATED, GeneratedBenchmark
from lifelong.data.stream import Stream, StreamConfig, load_stream
from lifelong.data.task import Example, Task
from lifelong.errors import UnknownNameError

# attribute (= task name) -> label -> synonyms; no word belongs to two groups
ATTRIBUTES: dict[str, dict[str, tuple[str, ...]]] = {
    "topic": {
        "sports": ("football", "tennis", "basketball", "marathon", "hockey", "cycling"),
        "science": ("physics", "chemistry", "telescope", "biology", "laboratory", "astronomy"),
        "food": ("pizza", "pasta", "soup", "bread", "salad", "dessert"),
        "music": ("guitar", "piano", "concert", "violin", "orchestra", "drums"),
    },
    "sentiment": {
        "positive": (
            "wonderful",
            "excellent",
            "delightful",
            "fantastic",
            "superb",
            "lovely",
            "brilliant",
            "marvelous",
        ),
        "negative": (
            "terrible",
            "awful",
            "dreadful",
            "horrible",
            "miserable",
            "disappointing",
            "dismal",
            "lousy",
        ),
        "neutral": (
            "ordinary",
            "average",
            "typical",
            "unremarkable",
            "routine",
            "standard",
            "usual",
            "regular",
        ),
    },
    "color": {
        "red": ("red", "crimson", "scarlet", "ruby", "maroon"),
        "blue": ("blue", "navy", "azure", "cobalt", "sapphire"),
        "green": ("green", "emerald", "jade", "olive", "mint"),
        "yellow": ("yellow", "golden", "amber", "canary", "mustard"),
    },
    "place": {
        "city": ("city", "downtown", "metropolis", "town"),
        "beach": ("beach", "seaside", "shore", "coast"),
        "mountains": ("mountains", "summit", "alps", "hills"),
        "forest": ("forest", "woods", "jungle", "grove"),
    },
}
QUESTIONS = {
    "topic": "What is the topic: sports, science, food or music?",
    "sentiment": "What is the sentiment: positive, negative or neutral?",
    "color": "What is the colour: red, blue, green or yellow?",
    "place": "What is the place: city, beach, mountains or forest?",
}
NAMES = ("Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kim", "Leo")
OBJECTS = ("bag", "jacket", "umbrella", "notebook", "bicycle", "scarf", "lamp", "mug", "hat", "kite")
TIMES = (
    "on monday",
    "last week",
    "yesterday",
    "this morning",
    "in the evening",
    "during the holidays",
    "on saturday",
    "at noon",
)
TEMPLATES = (
    "{name} said the {topic} event in the {place} was {sentiment} , and everyone noticed the {color} {obj} {time} .",
    "{time} , {name} brought a {color} {obj} to the {topic} meeting near the {place} and found it {sentiment} .",
    "the {sentiment} {topic} show at the {place} {time} had {name} holding a {color} {obj} .",
    "near the {place} , {name} wrote a {sentiment} review about {topic} while carrying a {color} {obj} {time} .",
    "a {color} {obj} was left at the {topic} club in the {place} {time} ; {name} called the day {sentiment} .",
    "{name} thinks {topic} in the {place} is {sentiment} , especially with a {color} {obj} {time} .",
)
DEFAULT_SIZES = {"train": 600, "dev": 200, "test": 200}
# Test is generated first, then dev, then train, each from its own RNG, so held-out data does not
# change with the training size and never overlaps it.
GENERATION_ORDER = ("test", "dev", "train")

BUILTIN_DEF: dict[str, Any] = {
    "name": "builtin",
    "description": "Generated offline stream: one set of sentences, labelled by topic, sentiment, colour or place.",
    "scenario": "task",
    "default_order": "default",
    "orders": {
        "default": ["topic", "sentiment", "color", "place"],
        "reverse": ["place", "color", "sentiment", "topic"],
        "mixed": ["sentiment", "place", "topic", "color"],
    },
    "tasks": {
        name: {
            "kind": "classification",
            "labels": list(groups),
            "question": QUESTIONS[name],
            "metric": "accuracy",
        }
        for name, groups in ATTRIBUTES.items()
    },
}


def _sentence(rng: random.Random, pools: dict[str, tuple[str, ...]]) -> str:
    words = {attr: rng.choice(pool) for attr, pool in pools.items()}
    text = rng.choice(TEMPLATES).format(
        name=rng.choice(NAMES), obj=rng.choice(OBJECTS), time=rng.choice(TIMES), **words
    )
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)
    return text[0].upper() + text[1:]


def _random_pools(rng: random.Random) -> dict[str, tuple[str, ...]]:
    return {attr: groups[rng.choice(sorted(groups))] for attr, groups in ATTRIBUTES.items()}


def attribute_pools(rng: random.Random, task: str, label: str) -> dict[str, tuple[str, ...]]:
    """``builtin``: the task's attribute carries the label, the others are random."""
    return {**_random_pools(rng), task: ATTRIBUTES[task][label]}


def domain_polarity(domain: str) -> dict[str, str]:
    """Property word -> verdict in ``domain``: a fixed, balanced assignment that differs between domains."""
    labels = list(ATTRIBUTES["sentiment"])
    per_label = len(PROPERTIES) // len(labels)
    assigned = random.Random(f"builtin-domain:{domain}").sample(labels * per_label, len(PROPERTIES))
    return dict(zip(PROPERTIES, assigned, strict=True))


def domain_pools(rng: random.Random, task: str, label: str) -> dict[str, tuple[str, ...]]:
    """``builtin-domain``: topic fixed to the domain; the verdict slot holds a property word of that polarity."""
    polarity = domain_polarity(task)
    return {
        **_random_pools(rng),
        "topic": ATTRIBUTES["topic"][task],
        "sentiment": tuple(word for word in PROPERTIES if polarity[word] == label),
    }


PoolsFn = Callable[[random.Random, str, str], dict[str, tuple[str, ...]]]


def _generate(
    bench: str,
    task: str,
    labels: Sequence[str],
    pools: PoolsFn,
    split: str,
    n: int,
    seed: int,
    taken: set[str],
) -> list[Example]:
    """``n`` distinct examples; labels come in shuffled blocks (balanced), so a smaller n is a prefix."""
    rng = random.Random(f"{bench}:{seed}:{task}:{split}")
    out: list[Example] = []
    block: list[str] = []
    while len(out) < n:
        if not block:
            block = rng.sample(list(labels), len(labels))
        label = block.pop()
        text = _sentence(rng, pools(rng, task, label))
        while text in taken:
            text = _sentence(rng, pools(rng, task, label))
        taken.add(text)
        out.append(Example(text=text, label=label, meta={"id": f"{task}-{split}-{len(out)}"}))
    return out


def _task_maker(definition: dict[str, Any], pools: PoolsFn) -> Callable[..., Task]:
    bench = definition["name"]

    def make_task(
        name: str,
        *,
        seed: int = 0,
        n_train: int | None = None,
        n_dev: int | None = None,
        n_test: int | None = None,
    ) -> Task:
        """One generated task; sizes default to 600 / 200 / 200."""
        if name not in definition["tasks"]:
            raise UnknownNameError(f"{bench} task", name, definition["tasks"])
        spec = definition["tasks"][name]
        sizes = {
            "train": n_train or DEFAULT_SIZES["train"],
            "dev": n_dev or DEFAULT_SIZES["dev"],
            "test": n_test or DEFAULT_SIZES["test"],
        }
        taken: set[str] = set()
        made = {
            split: _generate(bench, name, spec["labels"], pools, split, sizes[split], seed, taken)
            for split in GENERATION_ORDER
        }
        return Task(
            name=name,
            kind="classification",
            splits={split: made[split] for split in ("train", "dev", "test")},
            labels=tuple(spec["labels"]),
            metric=spec["metric"],
            question=spec["question"],
            source={
                "generator": bench,
                "name": name,
                "seed": seed,
                "max_train": n_train,
                "max_dev": n_dev,
                "max_eval": n_test,
            },
        )

    return make_task


DOMAINS = tuple(ATTRIBUTES["topic"])
# adjectives whose verdict depends on the domain (4 per class in every domain)
PROPERTIES = (
    "long",
    "short",
    "loud",
    "quiet",
    "hot",
    "cold",
    "fast",
    "slow",
    "heavy",
    "light",
    "bright",
    "dark",
)
BUILTIN_DOMAIN_DEF: dict[str, Any] = {
    "name": "builtin-domain",
    "description": "Generated domain-incremental stream: domain-dependent verdicts on sports, science, food, music.",
    "scenario": "domain",
    "default_order": "default",
    "orders": {"default": list(DOMAINS), "reverse": list(reversed(DOMAINS))},
    "tasks": {
        domain: {
            "kind": "classification",
            "labels": list(ATTRIBUTES["sentiment"]),
            "question": "Is the verdict positive, negative or neutral?",
            "metric": "accuracy",
        }
        for domain in DOMAINS
    },
}

make_builtin_task = _task_maker(BUILTIN_DEF, attribute_pools)
make_builtin_domain_task = _task_maker(BUILTIN_DOMAIN_DEF, domain_pools)


def builtin_stream(
    seed: int = 0,
    n_train: int = DEFAULT_SIZES["train"],
    n_eval: int = DEFAULT_SIZES["test"],
    scenario: str = "task",
    order: str | None = None,
    tasks: list[str] | None = None,
) -> Stream:
    """The built-in stream (dev and test both get ``n_eval`` examples per task).

    ``scenario="domain"`` needs one label set, so it gives the ``builtin-domain`` stream instead.
    """
    cfg = StreamConfig(
        benchmark="builtin-domain" if scenario == "domain" else "builtin",
        order=order,
        tasks=list(tasks) if tasks is not None else None,
        scenario=scenario,
        max_train=n_train,
        max_dev=n_eval,
        max_eval=n_eval,
        seed=seed,
    )
    return load_stream(cfg)


GENERATED.register("builtin")(GeneratedBenchmark(definition=BUILTIN_DEF, make_task=make_builtin_task))
GENERATED.register("builtin-domain")(
    GeneratedBenchmark(definition=BUILTIN_DOMAIN_DEF, make_task=make_builtin_domain_task)
)
