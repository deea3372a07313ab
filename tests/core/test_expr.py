"""The safe expression language: what it computes, and everything hostile it refuses — with a Chinese message and
the position — before anything runs."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from zhili.core.errors import ValidationFailed
from zhili.core.expr import MAX_DEPTH, MAX_NODES, EvalError, ExprError, compile_expr

CN = "\u4e00-\u9fff"


def ev(src: str, **env: Any) -> Any:
    return compile_expr(src).evaluate(env)


@pytest.mark.parametrize(("src", "env", "want"), [
    ("1 + 2 * 3", {}, 7),
    ("(1 + 2) * 3", {}, 9),
    ("7 / 2", {}, 3.5),
    ("7 // 2", {}, 3),
    ("7 % 3", {}, 1),
    ("-x + +y", {"x": 2, "y": 5}, 3),
    ("0 < x <= 10", {"x": 10}, True),
    ("0 < x <= 10", {"x": 11}, False),
    ("1 < 2 > 3", {}, False),  # chained: 1 < 2 and 2 > 3
    ("event in ['alarm', 'tamper']", {"event": "tamper"}, True),
    ("event not in ('alarm',)", {"event": "clear"}, True),
    ("level in [-1, 0]", {"level": -1}, True),
    ("'烟' in text", {"text": "有烟雾"}, True),
    ("a and not b or c", {"a": True, "b": True, "c": False}, False),
    ("x if x > 0 else -x", {"x": -4}, 4),
    ("abs(x) + max(1, 5, 3) + min([4, 2])", {"x": -1}, 8),
    ("round(3.14159, 2)", {}, 3.14),
    ("coalesce(missing, other, 9)", {"other": None}, 9),
    ("len(s) + len(items)", {"s": "abc", "items": [1, 2]}, 5),
    ('get("a.b.c")', {"a": {"b": {"c": 42}}}, 42),
    ('get("a.list.1")', {"a": {"list": [10, 20]}}, 20),
    ('get("a.nope", 5)', {"a": {}}, 5),
    ("between(t, 20, 30) and contains(name, '井') and startswith(name, '雨')", {"t": 25, "name": "雨水井"}, True),
    ("lower(s) == 'ab' and upper(s) == 'AB'", {"s": "aB"}, True),
    ("int('12') + float('0.5')", {}, 12.5),
    ("str(5) + 'x'", {}, "5x"),
    ("true and not false and null == None", {}, True),
    ("sqrt(16) + floor(2.7) + ceil(2.1)", {}, 9),
])
def test_it_computes(src: str, env: dict[str, Any], want: Any) -> None:
    assert ev(src, **env) == want


def test_missing_fields_make_comparisons_false_not_errors() -> None:
    e = compile_expr("temperature > 60")
    assert e.test({}) is False
    assert e.test({"temperature": None}) is False
    assert compile_expr("temperature + 1").evaluate({}) is None
    assert compile_expr("x == None").test({}) is True


def test_booleans_are_not_numbers() -> None:
    assert ev("flag == 1", flag=True) is False
    assert ev("x in [1]", x=True) is False


@pytest.mark.parametrize(("src", "fragment"), [
    ("x.__class__", "属性"),
    ("().__class__.__bases__[0].__subclasses__()", "属性"),
    ("x[0]", "下标"),
    ("__import__('os').system('id')", "属性"),
    ("__import__('os')", "不允许调用"),
    ("open('/etc/passwd')", "不允许调用"),
    ("eval('1')", "不允许调用"),
    ("getattr(x, 'y')", "不允许调用"),
    ("lambda: 1", "lambda"),
    ("[i for i in x]", "推导式"),
    ("{k: 1 for k in x}", "推导式"),
    ("(i for i in x)", "推导式"),
    ("f'{x}'", "f-string"),
    ("(y := 1)", "赋值"),
    ("max(*x)", "展开"),
    ("{'a': 1}", "对象"),
    ("2 ** 10", "乘方"),
    ("x << 2", "位运算"),
    ("~x", "按位取反"),
    ("x is None", "is"),
    ("[1, 2]", "列表"),
    ("x == [1]", "列表"),
    ("x in [y]", "常量"),
    ("round(x, ndigits=2)", "命名参数"),
    ("abs(1, 2)", "参数个数"),
    ("_secret", "下划线"),
    ("99999999999999999", "数值过大"),
    ("1e300", "数值过大"),
    ("'" + "长" * 600 + "'", "文本常量过长"),
    ("b'bytes'", "不支持的常量"),
    ("1 +", "语法错误"),
    ("x; y", "语法错误"),
    ("import os", "语法错误"),
    ("", "不能为空"),
    ("a\x00b", "控制字符"),
])
def test_hostile_text_is_refused_with_a_chinese_reason(src: str, fragment: str) -> None:
    with pytest.raises(ExprError) as got:
        compile_expr(src)
    assert isinstance(got.value, ValidationFailed)
    assert fragment in got.value.message
    assert re.search(f"[{CN}]", got.value.message)


def test_the_position_is_given() -> None:
    with pytest.raises(ExprError) as got:
        compile_expr("a > 1 and b.c")
    assert got.value.details == {"line": 1, "column": 11}
    assert got.value.message.startswith("第 11 个字符处")


def test_unknown_names_refused_when_the_names_are_given() -> None:
    compile_expr("level_m > 2", names={"level_m"})
    with pytest.raises(ExprError, match="未知的名称“levle_m”"):
        compile_expr("levle_m > 2", names={"level_m"})


def test_deep_nesting_and_size_are_bounded() -> None:
    with pytest.raises(ExprError, match="嵌套过深"):
        compile_expr("(" * 200 + "1" + ")" * 200)
    with pytest.raises(ExprError, match="嵌套过深"):
        compile_expr("(" * 900 + "1" + ")" * 900)  # would crash Python's own parser
    with pytest.raises(ExprError, match=r"嵌套过深|过长"):
        compile_expr("-" * (MAX_DEPTH + 5) + "1")
    assert compile_expr(" + ".join(["1"] * 90)).evaluate({}) == 90  # a long sum nests left: allowed
    with pytest.raises(ExprError, match="嵌套过深"):
        compile_expr(" + ".join(["1"] * (MAX_DEPTH + 5)))
    with pytest.raises(ExprError, match="过长"):
        compile_expr(" and ".join(["x"] * (MAX_NODES + 1)))
    with pytest.raises(ExprError, match="过长"):
        compile_expr("x" * 5000)
    with pytest.raises(ExprError, match="过长"):
        compile_expr("x in [" + ",".join(["1"] * 500) + "]")


@pytest.mark.parametrize(("src", "env"), [
    ("1 / x", {"x": 0}),
    ("1 % x", {"x": 0}),
    ("x * x * x * x * x", {"x": 10**14}),  # past 2^63
    ("x * 2.0", {"x": 1e308}),  # infinity
    ("s + s", {"s": "x" * 6000}),  # too long a string
    ("'a' + 1", {}),
    ("x < 'a'", {"x": 1}),
    ("-s", {"s": "a"}),
    ("abs(s)", {"s": "a"}),
    ("round(x, 20)", {"x": 1.0}),
    ("get(1)", {}),
    ("int('x')", {}),
    ("float('inf')", {}),
    ("len(5)", {}),
    ("sqrt(-1)", {}),
])
def test_evaluation_failures_are_eval_errors(src: str, env: dict[str, Any]) -> None:
    with pytest.raises(EvalError):
        compile_expr(src).evaluate(env)


def test_no_string_formatting_or_repetition_through_operators() -> None:
    with pytest.raises(EvalError):
        ev("'%s' % x", x=1)
    with pytest.raises(EvalError):
        ev("'a' * 100000000")


def test_compiled_once_evaluated_fast() -> None:
    e = compile_expr('event == "unlock" and credential_known == False and stay_active and 0 <= battery <= 100')
    env = {"event": "unlock", "credential_known": False, "stay_active": True, "battery": 50}
    t0 = time.perf_counter()
    for _ in range(20000):
        assert e.test(env)
    per = (time.perf_counter() - t0) / 20000
    assert per < 50e-6, per  # ≈ 2 µs on this machine; generous for a loaded one


def test_callers_may_add_functions() -> None:
    e = compile_expr("ratio(a, b) > 0.5", functions={"ratio": (lambda a, b: a / b if b else None, 2, 2)})
    assert e.test({"a": 3, "b": 4})
    with pytest.raises(ExprError):
        compile_expr("ratio(a, b)")
