"""CloudFormation template evaluation: parameters, conditions, intrinsic functions, dependency order.

Only what the local provisioner needs, each piece following the CloudFormation documentation:
parameters with their constraints, the condition functions, `Ref`, `Fn::GetAtt`, `Fn::Sub` (both
forms), `Fn::Join`, `Fn::If` with `AWS::NoValue`, `Fn::Select`, `Fn::Split`, `Fn::GetAZs`,
`Fn::Base64` and `Fn::FindInMap`. Anything else is refused with a message naming it.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final


class TemplateError(ValueError):
    """A template the local provisioner cannot deploy; the message names the culprit."""


class _NoValue:
    """The value of `Ref: AWS::NoValue`: the enclosing property or list item is dropped."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"})


@dataclass(frozen=True)
class PseudoParameters:
    """The values of the `AWS::*` pseudo parameters for one stack."""

    region: str
    account_id: str
    stack_name: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    @property
    def stack_id(self) -> str:
        """A stable stack ARN: the same stack name in the same account always gets the same id."""
        stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account_id}/{self.region}/{self.stack_name}")
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
            f"stack/{self.stack_name}/{stack_uuid}"
        )

    def values(self) -> dict[str, Any]:
        """Pseudo parameter name -> value (`AWS::NoValue` is handled by `Ref` itself)."""
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
        }


PSEUDO_PARAMETER_NAMES: Final = frozenset({*PseudoParameters("r", "a", "s").values(), "AWS::NoValue"})


# ---------------------------------------------------------------------------------------- parameters


def resolve_parameters(declared: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    """Each declared parameter's value: given or default, checked against its constraints.

    List types (`CommaDelimitedList`, `List<...>`) become lists, as `Ref` returns them.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(f"Parameters not declared by the template: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if not isinstance(spec, Mapping):
            raise TemplateError(f"Parameter {name}: its declaration is not a mapping")
        if name in given:
            raw = str(given[name])
        elif "Default" in spec:
            raw = _scalar_text(spec["Default"])
        else:
            raise TemplateError(f"Parameter {name} has no default and no value was given")
        values[name] = _checked_parameter(name, spec, raw)
    return values


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _checked_parameter(name: str, spec: Mapping[str, Any], raw: str) -> Any:
    kind = str(spec.get("Type", "String"))
    is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
    items = [item.strip() for item in raw.split(",")] if is_list and raw else []
    for item in items if is_list else [raw]:
        _check_constraints(name, spec, item, numeric=kind in ("Number", "List<Number>"))
    return items if is_list else raw


def _check_constraints(name: str, spec: Mapping[str, Any], value: str, *, numeric: bool) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_scalar_text(item) for item in allowed]:
        raise TemplateError(f"Parameter {name}: {value!r} is not one of {list(allowed)}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        raise TemplateError(f"Parameter {name}: {value!r} does not match AllowedPattern {pattern!r}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise TemplateError(f"Parameter {name}: {value!r} is shorter than MinLength {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise TemplateError(f"Parameter {name}: {value!r} is longer than MaxLength {spec['MaxLength']}")
    if not numeric:
        return
    try:
        number = float(value)
    except ValueError:
        raise TemplateError(f"Parameter {name}: {value!r} is not a number") from None
    if "MinValue" in spec and number < float(spec["MinValue"]):
        raise TemplateError(f"Parameter {name}: {value} is below MinValue {spec['MinValue']}")
    if "MaxValue" in spec and number > float(spec["MaxValue"]):
        raise TemplateError(f"Parameter {name}: {value} is above MaxValue {spec['MaxValue']}")


# ---------------------------------------------------------------------------------------- evaluation


def _unresolvable_ref(name: str) -> Any:
    raise TemplateError(f"Ref to {name!r}: only parameters and pseudo parameters may be used here")


def _unresolvable_att(name: str, attribute: str) -> Any:
    raise TemplateError(f"Fn::GetAtt {name}.{attribute}: resources may not be used here")


def _default_azs(region: str) -> list[str]:
    return [f"{region}{suffix}" for suffix in "abc"]


class Intrinsics:
    """Resolves intrinsic functions in a template fragment.

    `ref` and `get_att` answer for resources; parameters, pseudo parameters, conditions and
    mappings are answered here. Conditions are evaluated once, up front, by `evaluate_conditions`.
    """

    # `{"Condition": name}` is a function only inside the Conditions section; elsewhere (an IAM
    # statement, say) a key named Condition is plain data.
    _condition_names_allowed = False

    def __init__(
        self,
        *,
        pseudo: PseudoParameters,
        parameters: Mapping[str, Any],
        conditions: Mapping[str, bool] | None = None,
        mappings: Mapping[str, Any] | None = None,
        ref: Callable[[str], Any] = _unresolvable_ref,
        get_att: Callable[[str, str], Any] = _unresolvable_att,
        availability_zones: Callable[[str], list[str]] = _default_azs,
    ) -> None:
        self._pseudo = pseudo
        self._pseudo_values = pseudo.values()
        self._parameters = parameters
        self._conditions = conditions or {}
        self._mappings = mappings or {}
        self._ref = ref
        self._get_att = get_att
        self._azs = availability_zones

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its result and `AWS::NoValue` dropped."""
        if isinstance(value, Mapping):
            if len(value) == 1:
                (key,) = value
                if key == "Ref" or (isinstance(key, str) and key.startswith("Fn::")):
                    return self._call(key, value[key])
                if key == "Condition" and self._condition_names_allowed and isinstance(value[key], str):
                    return self.condition(value[key])
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        """The value of a named condition."""
        if name not in self._conditions:
            raise TemplateError(f"Condition {name!r} is not declared")
        return self._conditions[name]

    # -- the functions

    def _call(self, name: str, argument: Any) -> Any:
        handler = self._FUNCTIONS.get(name)
        if handler is None:
            raise TemplateError(f"Intrinsic function {name} is not supported by the local provisioner")
        return handler(self, argument)

    def _fn_ref(self, argument: Any) -> Any:
        name = self.resolve(argument)
        if not isinstance(name, str):
            raise TemplateError(f"Ref takes a name, not {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo_values:
            return self._pseudo_values[name]
        if name in self._parameters:
            return self._parameters[name]
        return self._ref(name)

    def _fn_get_att(self, argument: Any) -> Any:
        name, attribute = _get_att_target(self.resolve(argument))
        return self._get_att(name, attribute)

    def _fn_sub(self, argument: Any) -> Any:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], Mapping):
            text = self.resolve(argument[0])
            variables = {key: self.resolve(item) for key, item in argument[1].items()}
        else:
            raise TemplateError(f"Fn::Sub takes a string or [string, {{variables}}], not {argument!r}")
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub: the template must be a string, not {text!r}")

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"  # ${!Literal} writes ${Literal}
            return _sub_text(expression, self._sub_value(expression.strip(), variables))

        return _SUB_VARIABLE.sub(substitute, text)

    def _sub_value(self, expression: str, variables: Mapping[str, Any]) -> Any:
        if expression in variables:
            return variables[expression]
        if expression in self._pseudo_values or expression in self._parameters:
            return self._fn_ref(expression)
        if "." in expression:
            name, attribute = expression.split(".", 1)
            return self._get_att(name, attribute)
        return self._fn_ref(expression)

    def _fn_join(self, argument: Any) -> Any:
        resolved = self.resolve(argument)
        if not (isinstance(resolved, list) and len(resolved) == 2 and isinstance(resolved[1], list)):
            raise TemplateError(f"Fn::Join takes [delimiter, [values]], not {argument!r}")
        delimiter, items = resolved
        return str(delimiter).join(_sub_text("Fn::Join", item) for item in items)

    def _fn_if(self, argument: Any) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
            raise TemplateError(f"Fn::If takes [condition, value if true, value if false], not {argument!r}")
        return self.resolve(argument[1] if self.condition(argument[0]) else argument[2])

    def _fn_select(self, argument: Any) -> Any:
        resolved = self.resolve(argument)
        if not (isinstance(resolved, list) and len(resolved) == 2 and isinstance(resolved[1], list)):
            raise TemplateError(f"Fn::Select takes [index, [values]], not {argument!r}")
        index, items = int(resolved[0]), resolved[1]
        if not 0 <= index < len(items):
            raise TemplateError(f"Fn::Select: index {index} is outside a list of {len(items)}")
        return items[index]

    def _fn_split(self, argument: Any) -> Any:
        resolved = self.resolve(argument)
        if not (isinstance(resolved, list) and len(resolved) == 2 and isinstance(resolved[1], str)):
            raise TemplateError(f"Fn::Split takes [delimiter, string], not {argument!r}")
        return resolved[1].split(str(resolved[0]))

    def _fn_get_azs(self, argument: Any) -> Any:
        region = self.resolve(argument) or self._pseudo.region
        return self._azs(str(region))

    def _fn_base64(self, argument: Any) -> Any:
        text = self.resolve(argument)
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Base64 takes a string, not {text!r}")
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def _fn_find_in_map(self, argument: Any) -> Any:
        resolved = self.resolve(argument)
        if not (isinstance(resolved, list) and len(resolved) in (3, 4)):
            raise TemplateError(f"Fn::FindInMap takes [map, top key, second key], not {argument!r}")
        map_name, top, second = (str(part) for part in resolved[:3])
        try:
            return self._mappings[map_name][top][second]
        except (KeyError, TypeError):
            if len(resolved) == 4 and isinstance(resolved[3], Mapping) and "DefaultValue" in resolved[3]:
                return resolved[3]["DefaultValue"]
            raise TemplateError(f"Fn::FindInMap: {map_name}.{top}.{second} is not in the mappings") from None

    def _fn_equals(self, argument: Any) -> bool:
        resolved = self.resolve(argument)
        if not (isinstance(resolved, list) and len(resolved) == 2):
            raise TemplateError(f"Fn::Equals takes two values, not {argument!r}")
        return _sub_text("Fn::Equals", resolved[0]) == _sub_text("Fn::Equals", resolved[1])

    def _fn_and(self, argument: Any) -> bool:
        return all(self._truth("Fn::And", item) for item in _condition_list("Fn::And", argument, 2))

    def _fn_or(self, argument: Any) -> bool:
        return any(self._truth("Fn::Or", item) for item in _condition_list("Fn::Or", argument, 2))

    def _fn_not(self, argument: Any) -> bool:
        (item,) = _condition_list("Fn::Not", argument, 1, 1)
        return not self._truth("Fn::Not", item)

    def _truth(self, function: str, item: Any) -> bool:
        value = self.resolve(item)
        if not isinstance(value, bool):
            raise TemplateError(f"{function}: {item!r} is not a condition")
        return value

    _FUNCTIONS: Final[Mapping[str, Callable[[Intrinsics, Any], Any]]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::Join": _fn_join,
        "Fn::If": _fn_if,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::GetAZs": _fn_get_azs,
        "Fn::Base64": _fn_base64,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::Equals": _fn_equals,
        "Fn::And": _fn_and,
        "Fn::Or": _fn_or,
        "Fn::Not": _fn_not,
    }


def _get_att_target(argument: Any) -> tuple[str, str]:
    if isinstance(argument, str) and "." in argument:
        name, attribute = argument.split(".", 1)
        return name, attribute
    if isinstance(argument, list) and len(argument) == 2 and all(isinstance(part, str) for part in argument):
        return argument[0], argument[1]
    raise TemplateError(f"Fn::GetAtt takes [resource, attribute] or 'Resource.Attribute', not {argument!r}")


def _sub_text(where: str, value: Any) -> str:
    """How a value is written into a string: CloudFormation only inserts scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: {value!r} cannot be written into a string")


def _condition_list(function: str, argument: Any, least: int, most: int = 10) -> list[Any]:
    if not (isinstance(argument, list) and least <= len(argument) <= most):
        raise TemplateError(f"{function} takes {least} to {most} conditions, not {argument!r}")
    return argument


def evaluate_conditions(
    conditions: Mapping[str, Any], *, pseudo: PseudoParameters, parameters: Mapping[str, Any]
) -> dict[str, bool]:
    """Every declared condition's value; conditions may name each other, but not in a cycle."""
    values: dict[str, bool] = {}
    visiting: list[str] = []

    def evaluate(name: str) -> bool:
        if name in values:
            return values[name]
        if name not in conditions:
            raise TemplateError(f"Condition {name!r} is not declared")
        if name in visiting:
            cycle = " -> ".join([*visiting, name])
            raise TemplateError(f"Conditions refer to each other in a cycle: {cycle}")
        visiting.append(name)
        evaluator = _ConditionIntrinsics(pseudo=pseudo, parameters=parameters, lookup=evaluate)
        result = evaluator.resolve(conditions[name])
        visiting.pop()
        if not isinstance(result, bool):
            raise TemplateError(f"Condition {name} does not evaluate to true or false")
        values[name] = result
        return result

    for name in conditions:
        evaluate(name)
    return values


class _ConditionIntrinsics(Intrinsics):
    """Intrinsics inside the Conditions section: a `Condition` names another condition."""

    _condition_names_allowed = True

    def __init__(
        self, *, pseudo: PseudoParameters, parameters: Mapping[str, Any], lookup: Callable[[str], bool]
    ) -> None:
        super().__init__(pseudo=pseudo, parameters=parameters)
        self._lookup = lookup

    def condition(self, name: str) -> bool:
        return self._lookup(name)


# ---------------------------------------------------------------------------------------- dependencies


def referenced_names(value: Any) -> set[str]:
    """Every logical name that `Ref`, `Fn::GetAtt` or `Fn::Sub` in `value` points to."""
    return set(_walk_names(value))


def _walk_names(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _walk_names(item)
        return
    if not isinstance(value, Mapping):
        return
    if len(value) == 1:
        (key,) = value
        argument = value[key]
        if key == "Ref" and isinstance(argument, str):
            yield argument
            return
        if key == "Fn::GetAtt":
            if isinstance(argument, str):
                yield argument.split(".", 1)[0]
            elif isinstance(argument, list) and argument and isinstance(argument[0], str):
                yield argument[0]
            return
        if key == "Fn::Sub":
            yield from _sub_names(argument)
            return
    for item in value.values():
        yield from _walk_names(item)


def _sub_names(argument: Any) -> Iterator[str]:
    if isinstance(argument, list) and len(argument) == 2:
        text, variables = argument
        yield from _walk_names(variables)
        local = set(variables) if isinstance(variables, Mapping) else set()
    else:
        text, local = argument, set()
    if not isinstance(text, str):
        yield from _walk_names(text)
        return
    for match in _SUB_VARIABLE.finditer(text):
        expression = match.group(1).strip()
        if expression.startswith("!") or expression in local:
            continue
        yield expression.split(".", 1)[0] if "." in expression and "::" not in expression else expression


def attribute_references(value: Any) -> set[tuple[str, str]]:
    """Every (logical name, attribute) that `Fn::GetAtt` or `Fn::Sub`'s `${Name.Attribute}` reads."""
    return set(_walk_attributes(value))


def _walk_attributes(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for item in value:
            yield from _walk_attributes(item)
        return
    if not isinstance(value, Mapping):
        return
    if len(value) == 1 and "Fn::GetAtt" in value:
        argument = value["Fn::GetAtt"]
        if isinstance(argument, str) and "." in argument:
            name, attribute = argument.split(".", 1)
            yield name, attribute
        elif (
            isinstance(argument, list)
            and len(argument) == 2
            and all(isinstance(part, str) for part in argument)
        ):
            yield argument[0], argument[1]
        return
    if len(value) == 1 and "Fn::Sub" in value:
        argument = value["Fn::Sub"]
        text, local = argument, set()
        if isinstance(argument, list) and len(argument) == 2:
            text = argument[0]
            local = set(argument[1]) if isinstance(argument[1], Mapping) else set()
            yield from _walk_attributes(argument[1])
        if isinstance(text, str):
            for match in _SUB_VARIABLE.finditer(text):
                expression = match.group(1).strip()
                if "." in expression and "::" not in expression and not expression.startswith("!"):
                    name, attribute = expression.split(".", 1)
                    if name not in local:
                        yield name, attribute
        return
    for item in value.values():
        yield from _walk_attributes(item)


def resource_dependencies(
    resources: Mapping[str, Mapping[str, Any]], parameter_names: Sequence[str]
) -> dict[str, list[str]]:
    """Each resource's dependencies on other resources (Ref, GetAtt, Sub, DependsOn), in template order.

    A reference to a name that is neither a resource, a parameter nor a pseudo parameter is refused.
    """
    known = set(parameter_names) | PSEUDO_PARAMETER_NAMES
    dependencies: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        explicit = [depends_on] if isinstance(depends_on, str) else list(depends_on)
        names = referenced_names(resource.get("Properties", {}))
        for name in sorted(names | set(explicit)):
            if name not in resources and name not in known:
                raise TemplateError(
                    f"Resource {logical_id} refers to {name!r}, which the template does not declare"
                )
        dependencies[logical_id] = [name for name in resources if name in names or name in explicit]
    return dependencies


def creation_order(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Resources ordered so each comes after everything it depends on; a cycle is refused, named."""
    order: list[str] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise TemplateError(f"Circular dependency between resources: {' -> '.join(cycle)}")
        path.append(name)
        for dependency in dependencies.get(name, ()):
            visit(dependency)
        path.pop()
        done.add(name)
        order.append(name)

    for name in dependencies:
        visit(name)
    return order
