"""The options objects: the official tree, checked at assignment, and the same wire inputs.

The official classes (``qiskit_ibm_runtime.options``, 0.51.0) are the reference: the same field
names at every level, and for the same settings the same ``params.options`` /
``resilience_level`` as their ``_get_program_inputs``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioqruntime import InvalidInputError
from aioqruntime import options as ours
from aioqruntime.primitives import _schema
from aioqruntime.primitives._options import ESTIMATOR_KEYS, SAMPLER_KEYS, split_options

official = pytest.importorskip("qiskit_ibm_runtime.options")

LEAF_CLASSES = [
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "ExecutionOptionsV2",
    "SamplerExecutionOptionsV2",
    "TwirlingOptions",
    "SimulatorOptions",
    "ResilienceOptionsV2",
    "MeasureNoiseLearningOptions",
    "LayerNoiseLearningOptions",
    "PecOptions",
    "ZneOptions",
]


def _official_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]


@pytest.mark.parametrize("name", ["SamplerOptions", "EstimatorOptions", *LEAF_CLASSES])
def test_every_class_has_the_official_fields_and_defaults(name: str) -> None:
    mine, theirs = getattr(ours, name), getattr(official, name)
    assert sorted(f.name for f in dataclasses.fields(mine)) == sorted(_official_fields(theirs))
    fresh_mine, fresh_theirs = mine(), theirs()
    for field in _official_fields(theirs):
        value = getattr(fresh_theirs, field)
        if dataclasses.is_dataclass(value):
            assert type(getattr(fresh_mine, field)).__name__ == type(value).__name__, field
        elif repr(value) == "Unset":
            assert getattr(fresh_mine, field) is ours.Unset, field
        else:
            assert getattr(fresh_mine, field) == value, field


@pytest.mark.parametrize(
    ("schema", "cls"),
    [
        (_schema.SAMPLER_SCHEMA, ours.SamplerOptions),
        (_schema.ESTIMATOR_SCHEMA, ours.EstimatorOptions),
        (_schema.TWIRLING_SCHEMA, ours.TwirlingOptions),
        (_schema.RESILIENCE_SCHEMA, ours.ResilienceOptionsV2),
        (_schema.ZNE_SCHEMA, ours.ZneOptions),
        (_schema.SAMPLER_EXECUTION_SCHEMA, ours.SamplerExecutionOptionsV2),
    ],
)
def test_the_catalogue_and_the_classes_name_the_same_options(schema: Any, cls: type) -> None:
    assert set(schema) == {f.name for f in dataclasses.fields(cls)}


def test_assignment_nested_assignment_and_dicts() -> None:
    options = ours.SamplerOptions()
    options.default_shots = 1000
    options.twirling.enable_gates = True
    options.dynamical_decoupling = {"enable": True, "sequence_type": "XY4"}
    options.environment.log_level = "info"
    assert isinstance(options.dynamical_decoupling, ours.DynamicalDecouplingOptions)
    assert options.environment.log_level == "INFO"
    assert options._set_values() == {
        "default_shots": 1000,
        "twirling": {"enable_gates": True},
        "dynamical_decoupling": {"enable": True, "sequence_type": "XY4"},
        "environment": {"log_level": "INFO"},
    }
    assert ours.SamplerOptions()._set_values() == {}


@pytest.mark.parametrize(
    "action",
    [
        lambda o: setattr(o, "default_shot", 5),
        lambda o: setattr(o.twirling, "enable_gate", True),
        lambda o: o.update(twirling={"enable_gate": True}),
        lambda o: o.update(nope=1),
        lambda o: type(o)(default_shot=3),
        lambda o: type(o)(twirling={"strategy": "all", "typo": 1}),
    ],
)
def test_a_typo_is_refused_as_value_and_attribute_error(action: Any) -> None:
    options = ours.SamplerOptions()
    with pytest.raises(ours.UnknownOptionError, match="unknown") as caught:
        action(options)
    assert isinstance(caught.value, ValueError)  # what the official raises
    assert isinstance(caught.value, AttributeError)
    assert options == ours.SamplerOptions()


def test_a_typo_names_the_closest_option() -> None:
    with pytest.raises(ours.UnknownOptionError, match="did you mean 'default_shots'"):
        ours.SamplerOptions().default_shot = 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("target", "field", "value", "match"),
    [
        ("", "default_shots", "x", "SamplerOptions.default_shots must be an int >= 1"),
        ("", "default_shots", True, "default_shots"),
        ("", "default_shots", 1.5, "default_shots"),
        ("", "max_execution_time", -5, "max_execution_time must be a positive int"),
        ("", "experimental", 5, "experimental must be a dict"),
        ("", "twirling", 5, "TwirlingOptions or a dict"),
        ("twirling", "strategy", "bad", "TwirlingOptions.strategy must be one of"),
        ("twirling", "num_randomizations", 0, "num_randomizations"),
        ("execution", "meas_type", "raw", "meas_type"),
        ("environment", "log_level", "LOUD", "log_level must be one of"),
        ("environment", "job_tags", "abc", "job_tags must be a list"),
        ("environment", "job_tags", ["a"] * 9, "at most 8 tags"),
        ("environment", "private", "yes", "private must be True or False"),
        ("simulator", "seed_simulator", -3, "seed_simulator"),
        ("simulator", "coupling_map", [[0]], "coupling_map"),
    ],
)
def test_a_bad_value_is_refused_at_assignment(
    target: str, field: str, value: Any, match: str
) -> None:
    options = ours.SamplerOptions()
    group = getattr(options, target) if target else options
    with pytest.raises(InvalidInputError, match=match):
        setattr(group, field, value)
    assert options == ours.SamplerOptions()


def test_estimator_rules_across_fields_as_the_official() -> None:
    options = ours.EstimatorOptions()
    with pytest.raises(InvalidInputError, match="resilience_level must be 0, 1 or 2"):
        options.resilience_level = 3
    with pytest.raises(InvalidInputError, match="default_precision"):
        options.default_precision = 0
    with pytest.raises(InvalidInputError, match="needs at least 4 noise_factors"):
        options.resilience.zne.extrapolator = "polynomial_degree_3"
    options.resilience.zne.noise_factors = [1, 2, 3, 4]
    options.resilience.zne.extrapolator = "polynomial_degree_3"
    options.resilience.zne_mitigation = True
    with pytest.raises(InvalidInputError, match="cannot both be True"):
        options.resilience.pec_mitigation = True
    assert options.resilience.pec_mitigation is ours.Unset
    with pytest.raises(InvalidInputError, match="measure_mitigation is not True"):
        options.resilience = {"measure_noise_learning": {"num_randomizations": 3}}
    # update() applies the whole change before checking the rules across fields.
    options.update(
        resilience={"measure_noise_learning": {"num_randomizations": 3}, "measure_mitigation": True}
    )
    assert options.resilience.zne_mitigation is True  # merged, not replaced
    assert options.resilience.measure_noise_learning.num_randomizations == 3


def test_update_merges_and_is_all_or_nothing() -> None:
    options = ours.SamplerOptions(twirling={"enable_gates": True})
    options.update(default_shots=5, twirling={"strategy": "all"})
    assert options.twirling == ours.TwirlingOptions(enable_gates=True, strategy="all")
    before = copy.deepcopy(options)
    with pytest.raises(InvalidInputError):
        options.update(default_shots=7, twirling={"strategy": "nope"})
    assert options == before
    options.update({"default_shots": 9})  # a dict as the one positional argument
    assert options.default_shots == 9


def test_none_means_unset_except_where_it_means_something() -> None:
    options = ours.EstimatorOptions(default_shots=None)
    options.twirling.enable_gates = None
    options.resilience.pec.max_overhead = None
    options.resilience.layer_noise_learning.max_layers_to_learn = None
    assert options.twirling.enable_gates is ours.Unset
    program, _, _ = split_options(
        options._set_values(), allowed=ESTIMATOR_KEYS, primitive="estimator"
    )
    # "no maximum" and "no limit" are sent as null, as the official client sends them.
    assert program == {
        "resilience": {
            "pec": {"max_overhead": None},
            "layer_noise_learning": {"max_layers_to_learn": None},
        }
    }


# The same settings on both: the same params (options and resilience_level) and runtime options.
WIRE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("sampler", {}),
    ("sampler", {"default_shots": 100, "twirling": {"enable_gates": True, "strategy": "all"}}),
    ("sampler", {"dynamical_decoupling": {"enable": True}, "execution": {"meas_type": "kerneled"}}),
    ("sampler", {"simulator": {"seed_simulator": 7, "coupling_map": [[0, 1], [1, 0]]}}),
    ("sampler", {"experimental": {"image": "x:1", "twirling": {"enable_measure": True}, "k": 1}}),
    ("sampler", {"environment": {"job_tags": ["a", "b"]}, "max_execution_time": 60}),
    ("estimator", {"resilience_level": 0, "default_precision": 0.05, "seed_estimator": 3}),
    (
        "estimator",
        {
            "resilience": {
                "zne_mitigation": True,
                "zne": {"noise_factors": [1, 3, 5], "extrapolator": "linear"},
                "measure_mitigation": True,
                "measure_noise_learning": {"num_randomizations": 4},
                "pec": {"max_overhead": None},
            }
        },
    ),
    ("estimator", {"default_shots": 400, "twirling": {"num_randomizations": "auto"}}),
]


@pytest.mark.parametrize(("primitive", "settings_"), WIRE_CASES)
def test_the_same_program_inputs_as_the_official_options(
    primitive: str, settings_: dict[str, Any]
) -> None:
    name = "SamplerOptions" if primitive == "sampler" else "EstimatorOptions"
    theirs = getattr(official, name)()
    theirs.update(**copy.deepcopy(settings_))
    expected = type(theirs)._get_program_inputs(dataclasses.asdict(theirs))
    expected_runtime = type(theirs)._get_runtime_options(dataclasses.asdict(theirs))
    mine = getattr(ours, name)()
    mine.update(**copy.deepcopy(settings_))
    allowed = SAMPLER_KEYS if primitive == "sampler" else ESTIMATOR_KEYS
    program, extra, runtime = split_options(
        mine._set_values(), allowed=allowed, primitive=primitive
    )
    assert program == expected["options"]
    assert extra.get("resilience_level") == expected.get("resilience_level")
    assert list(runtime.tags) == list(expected_runtime.get("job_tags") or [])
    assert runtime.max_execution_time == expected_runtime.get("max_execution_time")
    assert runtime.image == expected_runtime.get("image")


_FIELDS = st.sampled_from(
    [
        ("", "default_shots"),
        ("", "max_execution_time"),
        ("", "experimental"),
        ("", "twirling"),
        ("twirling", "num_randomizations"),
        ("twirling", "strategy"),
        ("dynamical_decoupling", "sequence_type"),
        ("environment", "job_tags"),
        ("environment", "log_level"),
        ("simulator", "coupling_map"),
        ("simulator", "basis_gates"),
        ("execution", "rep_delay"),
    ]
)
_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-5, max_value=2**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["auto", "all", "XY4", "INFO", "x"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=2)
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(steps=st.lists(st.tuples(_FIELDS, _VALUES), max_size=6))
def test_any_assignment_is_taken_or_refused_leaving_the_options_unchanged(
    steps: list[tuple[tuple[str, str], Any]],
) -> None:
    options = ours.SamplerOptions()
    for (group, field), value in steps:
        target = getattr(options, group) if group else options
        before = copy.deepcopy(options)
        try:
            setattr(target, field, value)
        except InvalidInputError:
            assert options == before
    # Whatever was taken is accepted by the wire mapping as it is.
    split_options(options._set_values(), allowed=SAMPLER_KEYS, primitive="sampler")


_NAMES = st.sampled_from(
    [
        "default_shots",
        "default_precision",
        "resilience_level",
        "resilience",
        "twirling",
        "environment",
        "simulator",
        "experimental",
        "zne",
        "zne_mitigation",
        "noise_factors",
        "extrapolator",
        "strategy",
        "job_tags",
        "typo",
    ]
)
_NESTED = st.recursive(
    _VALUES, lambda inner: st.dictionaries(_NAMES, inner, max_size=3), max_leaves=8
)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(given_options=st.dictionaries(_NAMES, _NESTED, max_size=4), estimator=st.booleans())
def test_any_options_dict_builds_options_or_is_refused_with_a_typed_error(
    given_options: dict[str, Any], estimator: bool
) -> None:
    cls = ours.EstimatorOptions if estimator else ours.SamplerOptions
    try:
        built = cls._coerce(given_options)
    except InvalidInputError:
        return
    assert isinstance(built, cls)
    built._validate_tree()
    allowed = ESTIMATOR_KEYS if estimator else SAMPLER_KEYS
    split_options(
        built._set_values(), allowed=allowed, primitive="estimator" if estimator else "sampler"
    )


def test_options_survive_pickle_and_copy() -> None:
    import pickle

    options = ours.EstimatorOptions(resilience_level=1, resilience={"zne_mitigation": True})
    again = pickle.loads(pickle.dumps(options))
    assert again == options
    assert again.default_precision is ours.Unset
    again.resilience_level = 2  # still checked after unpickling
    with pytest.raises(InvalidInputError):
        again.resilience_level = 5


# Valid values per option path (valid for both clients): random settings, compared on the wire.
_MENU: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("default_shots",): st.integers(1, 100_000),
    ("max_execution_time",): st.integers(1, 10_000),
    ("twirling", "enable_gates"): st.booleans(),
    ("twirling", "num_randomizations"): st.one_of(st.integers(1, 64), st.just("auto")),
    ("twirling", "strategy"): st.sampled_from(["active", "active-accum", "active-circuit", "all"]),
    ("dynamical_decoupling", "enable"): st.booleans(),
    ("dynamical_decoupling", "sequence_type"): st.sampled_from(["XX", "XpXm", "XY4"]),
    ("execution", "init_qubits"): st.booleans(),
    ("execution", "rep_delay"): st.floats(0, 1e-3),
    ("simulator", "seed_simulator"): st.integers(0, 2**31),
    ("simulator", "basis_gates"): st.lists(st.sampled_from(["x", "sx", "rz", "cz"]), max_size=3),
    ("environment", "job_tags"): st.lists(st.text("abc", min_size=1, max_size=5), max_size=3),
    ("experimental", "anything"): st.integers(),
}
_ESTIMATOR_MENU: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("default_precision",): st.floats(1e-4, 1.0),
    ("resilience_level",): st.integers(0, 2),
    ("seed_estimator",): st.integers(0, 1000),
    ("resilience", "zne_mitigation"): st.booleans(),
    ("resilience", "zne", "noise_factors"): st.lists(st.floats(1, 9), min_size=2, max_size=4),
    ("resilience", "zne", "extrapolator"): st.sampled_from(["linear", "exponential"]),
    ("resilience", "pec", "max_overhead"): st.one_of(st.none(), st.floats(1, 500)),
    ("resilience", "layer_noise_learning", "max_layers_to_learn"): st.integers(0, 10),
}


@st.composite
def _settings(draw: st.DrawFn, estimator: bool) -> dict[str, Any]:
    menu = {**_MENU, **(_ESTIMATOR_MENU if estimator else {})}
    paths = draw(st.lists(st.sampled_from(sorted(menu)), unique=True, max_size=6))
    chosen: dict[str, Any] = {}
    for path in paths:
        node = chosen
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = draw(menu[path])
    return chosen


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(data=st.data(), estimator=st.booleans())
def test_random_settings_give_the_official_program_inputs(data: Any, estimator: bool) -> None:
    chosen = data.draw(_settings(estimator))
    name = "EstimatorOptions" if estimator else "SamplerOptions"
    theirs = getattr(official, name)()
    theirs.update(**copy.deepcopy(chosen))
    options_dict = dataclasses.asdict(theirs)
    expected = type(theirs)._get_program_inputs(options_dict)
    mine = getattr(ours, name)()
    mine.update(**copy.deepcopy(chosen))
    program, extra, runtime = split_options(
        mine._set_values(),
        allowed=ESTIMATOR_KEYS if estimator else SAMPLER_KEYS,
        primitive="estimator" if estimator else "sampler",
    )
    assert program == expected["options"]
    assert extra.get("resilience_level") == expected.get("resilience_level")
    runtime_expected = type(theirs)._get_runtime_options(options_dict)
    assert list(runtime.tags) == list(runtime_expected.get("job_tags") or [])
    assert runtime.max_execution_time == runtime_expected.get("max_execution_time")
