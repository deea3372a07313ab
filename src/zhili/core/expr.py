"""A small, safe expression language for conditions and formulas that administrators write as data (IoT alert
rules today, 4E indicator formulas next).

The text is parsed by Python's own parser (:mod:`ast`) and then *walked against a whitelist*; nothing is ever
handed to ``eval``. What is allowed:

* literals: integers and decimals (at most 10^15 in magnitude), strings (at most 500 characters), ``True``,
  ``False``, ``None`` (also ``true``/``false``/``null`` as names, for people who write JSON);
* names, looked up in the mapping given at evaluation (a name that is absent reads as ``None``); with ``names=``
  at compile time an unknown name is refused;
* comparisons, chained as in ``0 < x <= 10``; ``in`` / ``not in`` against a literal list (``event in ["unlock",
  "tamper"]``) or a string (``"smoke" in text``);
* ``and``, ``or``, ``not``; ``a if cond else b``;
* ``+ - * / // %`` on numbers (``+`` also joins two strings), unary minus and plus;
* calls of the listed functions only (:data:`FUNCTIONS`, plus any a caller passes): ``abs``, ``min``, ``max``,
  ``round``, ``coalesce``, ``len``, ``get("a.b")`` (dotted access into nested objects of the mapping) …

Refused, with a Chinese message and the position (``details={"line", "column"}``): attribute access, subscripts,
calls of anything else, keyword arguments, ``**``, lambdas, comprehensions, f-strings, walrus, bit operators,
text over :data:`MAX_SOURCE` characters, more than :data:`MAX_NODES` nodes, brackets deeper than
:data:`MAX_PARENS` or a tree deeper than :data:`MAX_DEPTH`.

An expression is compiled once (:func:`compile_expr`) into a tree of closures and evaluated many times
(:meth:`Expr.evaluate`), about a microsecond a node. Evaluation never raises anything but :class:`EvalError`
(a :class:`ValidationFailed`): division by zero, a type mismatch, an integer past 2^63 or a string past
:data:`MAX_STRING` characters. Ordering comparisons with ``None`` (a missing field) are false rather than errors,
so ``temperature > 60`` on a message without a temperature simply does not hold.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from zhili.core.errors import ValidationFailed

MAX_SOURCE = 2000
MAX_NODES = 400
MAX_DEPTH = 100  # of the tree (a + b + c … nests to the left: 99 terms)
MAX_PARENS = 40  # of brackets, checked before Python's parser sees the text
MAX_LITERAL = 10**15
MAX_INT = 2**63
MAX_STRING = 10_000
MAX_LITERAL_STRING = 500
MAX_LIST = 200

Env = Mapping[str, Any]
Fn = Callable[[Env], Any]

_MISSING = object()


class ExprError(ValidationFailed):
    """The expression is not allowed (or not well formed); ``details`` carry ``line`` and ``column`` (from 1)."""

    code = "expr_invalid"


class EvalError(ValidationFailed):
    """Evaluating an allowed expression failed on the values given (division by zero, type mismatch …)."""

    code = "expr_eval"


# -- functions -------------------------------------------------------------------------------------------------

def _get(env: Env, path: Any, default: Any = None) -> Any:
    if not isinstance(path, str):
        raise EvalError("get() 的参数必须是字段路径文本，如 get(\"a.b\")")
    cur: Any = env
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part, _MISSING)
        elif isinstance(cur, list) and part.isdigit():
            i = int(part)
            cur = cur[i] if i < len(cur) else _MISSING
        else:
            cur = _MISSING
        if cur is _MISSING:
            return default
    return cur


def _coalesce(*args: Any) -> Any:
    for a in args:
        if a is not None:
            return a
    return None


def _num(x: Any, fn: str) -> float | int:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise EvalError(f"{fn}() 需要数值参数")
    return x


def _round(x: Any, n: Any = 0) -> Any:
    _num(x, "round")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10:
        raise EvalError("round() 的小数位数须为 0–10 的整数")
    return round(x, n) if n else round(x)


def _len(x: Any) -> int:
    if not isinstance(x, str | list | tuple | Mapping):
        raise EvalError("len() 需要文本、列表或对象")
    return len(x)


def _minmax(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    def f(*args: Any) -> Any:
        if len(args) == 1 and isinstance(args[0], list | tuple):
            args = tuple(args[0])
        vals = [a for a in args if a is not None]
        if not vals:
            return None
        for v in vals:
            _num(v, name)
        return fn(vals)
    return f


def _to_int(x: Any) -> int | None:
    if x is None:
        return None
    try:
        v = int(float(x)) if isinstance(x, str) else int(x)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EvalError("int() 无法转换该值") from exc
    return v


def _to_float(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise EvalError("float() 无法转换该值") from exc
    if not math.isfinite(v):
        raise EvalError("float() 的结果不是有限数值")
    return v


def _str(x: Any) -> str:
    s = "" if x is None else str(x)
    if len(s) > MAX_STRING:
        raise EvalError("文本过长")
    return s


def _text(fn: Callable[[str, str], bool], name: str) -> Callable[[Any, Any], bool]:
    def f(s: Any, sub: Any) -> bool:
        if s is None:
            return False
        if not isinstance(s, str) or not isinstance(sub, str):
            raise EvalError(f"{name}() 需要文本参数")
        return fn(s, sub)
    return f


def _between(x: Any, lo: Any, hi: Any) -> bool:
    if x is None:
        return False
    return bool(_num(lo, "between") <= _num(x, "between") <= _num(hi, "between"))


def _unary_num(fn: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        if x is None:
            return None
        try:
            return fn(_num(x, name))
        except (ValueError, OverflowError) as exc:
            raise EvalError(f"{name}() 的参数超出范围") from exc
    return f


# name → (function, least number of arguments, most number of arguments or None)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "abs": (_unary_num(abs, "abs"), 1, 1),
    "min": (_minmax(min, "min"), 1, None),
    "max": (_minmax(max, "max"), 1, None),
    "round": (_round, 1, 2),
    "coalesce": (_coalesce, 1, None),
    "len": (_len, 1, 1),
    "int": (_to_int, 1, 1),
    "float": (_to_float, 1, 1),
    "str": (_str, 1, 1),
    "sqrt": (_unary_num(math.sqrt, "sqrt"), 1, 1),
    "floor": (_unary_num(math.floor, "floor"), 1, 1),
    "ceil": (_unary_num(math.ceil, "ceil"), 1, 1),
    "between": (_between, 3, 3),
    "contains": (_text(lambda s, sub: sub in s, "contains"), 2, 2),
    "startswith": (_text(str.startswith, "startswith"), 2, 2),
    "endswith": (_text(str.endswith, "endswith"), 2, 2),
    "lower": (lambda s: s.lower() if isinstance(s, str) else s, 1, 1),
    "upper": (lambda s: s.upper() if isinstance(s, str) else s, 1, 1),
}
# ``get`` reads the evaluation mapping itself, so it is wired apart
_ENV_FUNCTIONS = {"get": (1, 2)}
_ALIASES = {"true": True, "false": False, "null": None}


# -- checked operators -----------------------------------------------------------------------------------------

def _checked(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool) and not -MAX_INT <= v <= MAX_INT:
        raise EvalError("数值超出允许范围")
    if isinstance(v, float) and not math.isfinite(v):
        raise EvalError("计算结果不是有限数值")
    if isinstance(v, str) and len(v) > MAX_STRING:
        raise EvalError("文本过长")
    return v


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _arith(op: Callable[[Any, Any], Any], sym: str, strings: bool = False) -> Callable[[Any, Any], Any]:
    def f(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None  # a missing field propagates (like SQL's NULL); comparisons with it are false
        if _is_num(a) and _is_num(b):
            try:
                return _checked(op(a, b))
            except ZeroDivisionError as exc:
                raise EvalError("除数为零") from exc
            except OverflowError as exc:
                raise EvalError("数值超出允许范围") from exc
        if strings and isinstance(a, str) and isinstance(b, str):
            return _checked(a + b)
        raise EvalError(f"运算“{sym}”的两边类型不符")
    return f


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _arith(operator.add, "+", strings=True),
    ast.Sub: _arith(operator.sub, "-"),
    ast.Mult: _arith(operator.mul, "*"),
    ast.Div: _arith(operator.truediv, "/"),
    ast.FloorDiv: _arith(operator.floordiv, "//"),
    ast.Mod: _arith(operator.mod, "%"),
}


def _order(op: Callable[[Any, Any], bool], sym: str) -> Callable[[Any, Any], bool]:
    def f(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
            return bool(op(a, b))
        raise EvalError(f"比较“{sym}”的两边类型不符")
    return f


def _eq(a: Any, b: Any) -> bool:
    return bool(a == b) and (isinstance(a, bool) == isinstance(b, bool) or a is None or b is None)


def _contains(a: Any, b: Any) -> bool:
    if b is None:
        return False
    if isinstance(b, str):
        if not isinstance(a, str):
            return False
        return a in b
    return any(_eq(a, x) for x in b)


_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: _eq,
    ast.NotEq: lambda a, b: not _eq(a, b),
    ast.Lt: _order(operator.lt, "<"),
    ast.LtE: _order(operator.le, "<="),
    ast.Gt: _order(operator.gt, ">"),
    ast.GtE: _order(operator.ge, ">="),
    ast.In: _contains,
    ast.NotIn: lambda a, b: not _contains(a, b),
}

_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "不允许访问属性（“.”），嵌套字段请用 get(\"a.b\")",
    ast.Subscript: "不允许下标访问（“[]”），嵌套字段请用 get(\"a.b\")",
    ast.Lambda: "不允许定义函数（lambda）",
    ast.ListComp: "不允许推导式",
    ast.SetComp: "不允许推导式",
    ast.DictComp: "不允许推导式",
    ast.GeneratorExp: "不允许推导式",
    ast.JoinedStr: "不允许格式化文本（f-string）",
    ast.NamedExpr: "不允许赋值（:=）",
    ast.Starred: "不允许展开参数（*）",
    ast.Dict: "不允许对象字面量",
    ast.Await: "不允许 await",
    ast.Yield: "不允许 yield",
    ast.YieldFrom: "不允许 yield",
}


@dataclass(frozen=True)
class Expr:
    """A compiled expression: ``evaluate(mapping)`` any number of times."""

    source: str
    names: frozenset[str]  # the names it reads (not counting functions)
    _fn: Fn

    def evaluate(self, env: Env) -> Any:
        try:
            return self._fn(env)
        except EvalError:
            raise
        except RecursionError as exc:  # pragma: no cover - the depth limit keeps this away
            raise EvalError("表达式嵌套过深") from exc
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise EvalError("表达式无法按给定数据求值") from exc

    def test(self, env: Env) -> bool:
        """The expression as a condition: its truth value."""
        return bool(self.evaluate(env))


class _Compiler:
    def __init__(self, source: str, names: Collection[str] | None,
                 functions: Mapping[str, tuple[Callable[..., Any], int, int | None]]) -> None:
        self.source = source
        self.allowed = None if names is None else set(names)
        self.functions = functions
        self.seen: set[str] = set()
        self.nodes = 0

    def fail(self, node: ast.AST | None, message: str) -> ExprError:
        line = getattr(node, "lineno", 1) or 1
        col = (getattr(node, "col_offset", 0) or 0) + 1
        where = f"第 {col} 个字符处" if line == 1 else f"第 {line} 行第 {col} 个字符处"
        return ExprError(f"{where}：{message}", details={"line": line, "column": col})

    def build(self, node: ast.AST, depth: int = 0) -> Fn:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, f"表达式过长（最多 {MAX_NODES} 个成分）")
        if depth > MAX_DEPTH:
            raise self.fail(node, f"表达式嵌套过深（最多 {MAX_DEPTH} 层）")
        d = depth + 1
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BoolOp):
            parts = [self.build(v, d) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda env: _and(parts, env)
            return lambda env: _or(parts, env)
        if isinstance(node, ast.UnaryOp):
            inner = self.build(node.operand, d)
            if isinstance(node.op, ast.Not):
                return lambda env: not inner(env)
            if isinstance(node.op, ast.USub):
                return lambda env: _neg(inner(env))
            if isinstance(node.op, ast.UAdd):
                return lambda env: _pos(inner(env))
            raise self.fail(node, "不允许按位取反（~）")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                what = "乘方（**）" if isinstance(node.op, ast.Pow) else "位运算或矩阵运算"
                raise self.fail(node, f"不允许{what}")
            left, right = self.build(node.left, d), self.build(node.right, d)
            return lambda env: op(left(env), right(env))
        if isinstance(node, ast.Compare):
            return self.compare(node, d)
        if isinstance(node, ast.IfExp):
            test, body, orelse = self.build(node.test, d), self.build(node.body, d), self.build(node.orelse, d)
            return lambda env: body(env) if test(env) else orelse(env)
        if isinstance(node, ast.Call):
            return self.call(node, d)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise self.fail(node, "列表只能出现在 in / not in 的右边，或作为 min/max 的参数")
        raise self.fail(node, _REFUSED.get(type(node), "不支持的写法"))

    def constant(self, node: ast.Constant) -> Fn:
        v = node.value
        if isinstance(v, bool) or v is None:
            return lambda env: v
        if isinstance(v, int):
            if abs(v) > MAX_LITERAL:
                raise self.fail(node, "数值过大（绝对值不超过 10 的 15 次方）")
            return lambda env: v
        if isinstance(v, float):
            if not math.isfinite(v) or abs(v) > MAX_LITERAL:
                raise self.fail(node, "数值过大（绝对值不超过 10 的 15 次方）")
            return lambda env: v
        if isinstance(v, str):
            if len(v) > MAX_LITERAL_STRING:
                raise self.fail(node, f"文本常量过长（最多 {MAX_LITERAL_STRING} 个字符）")
            return lambda env: v
        raise self.fail(node, "不支持的常量（只允许数值、文本、True/False/None）")

    def name(self, node: ast.Name) -> Fn:
        n = node.id
        if n in _ALIASES:
            v = _ALIASES[n]
            return lambda env: v
        if n.startswith("_"):
            raise self.fail(node, f"名称“{n}”不允许以下划线开头")
        if self.allowed is not None and n not in self.allowed:
            raise self.fail(node, f"未知的名称“{n}”")
        self.seen.add(n)
        return lambda env: env.get(n)

    def literal_list(self, node: ast.AST) -> list[Any] | None:
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            return None
        if len(node.elts) > MAX_LIST:
            raise self.fail(node, f"列表过长（最多 {MAX_LIST} 项）")
        out = []
        for e in node.elts:
            self.nodes += 1
            if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and isinstance(e.operand, ast.Constant):
                out.append(_neg(self.constant(e.operand)({})))
            elif isinstance(e, ast.Constant):
                out.append(self.constant(e)({}))
            else:
                raise self.fail(e, "列表中只允许常量")
        if self.nodes > MAX_NODES:
            raise self.fail(node, f"表达式过长（最多 {MAX_NODES} 个成分）")
        return out

    def compare(self, node: ast.Compare, d: int) -> Fn:
        first = self.build(node.left, d)
        steps: list[tuple[Callable[[Any, Any], bool], Fn]] = []
        for op, right in zip(node.ops, node.comparators, strict=True):
            fn = _CMPOPS.get(type(op))
            if fn is None:
                raise self.fail(node, "不允许 is / is not，请用 == / !=")
            lst = self.literal_list(right)
            if lst is not None:
                if not isinstance(op, ast.In | ast.NotIn):
                    raise self.fail(right, "列表只能出现在 in / not in 的右边")
                frozen = tuple(lst)
                steps.append((fn, lambda env, v=frozen: v))  # type: ignore[misc]
            else:
                steps.append((fn, self.build(right, d)))

        def run(env: Env) -> bool:
            a = first(env)
            for fn, right in steps:
                b = right(env)
                if not fn(a, b):
                    return False
                a = b
            return True
        return run

    def call(self, node: ast.Call, d: int) -> Fn:
        if isinstance(node.func, ast.Attribute):
            raise self.fail(node.func, _REFUSED[ast.Attribute])
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "只能调用列出的函数")
        name = node.func.id
        if node.keywords:
            raise self.fail(node, "函数不接受命名参数")
        if name in _ENV_FUNCTIONS:
            lo, hi = _ENV_FUNCTIONS[name]
            if not lo <= len(node.args) <= hi:
                raise self.fail(node, f"函数 {name}() 的参数个数不对")
            args = [self.build(a, d) for a in node.args]
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                self.seen.add(node.args[0].value.split(".")[0])
            return lambda env: _get(env, *[a(env) for a in args])
        spec = self.functions.get(name)
        if spec is None:
            raise self.fail(node, f"不允许调用“{name}”（可用函数：{'、'.join(sorted([*self.functions, 'get']))}）")
        fn, lo, hi2 = spec
        n = len(node.args)
        if n < lo or (hi2 is not None and n > hi2):
            raise self.fail(node, f"函数 {name}() 的参数个数不对")
        if name in ("min", "max") and n == 1:
            lst = self.literal_list(node.args[0])
            if lst is not None:
                frozen = tuple(lst)
                return lambda env: _checked(fn(frozen))
        args = [self.build(a, d) for a in node.args]
        return lambda env: _checked(fn(*[a(env) for a in args]))


def _and(parts: list[Fn], env: Env) -> Any:
    v: Any = True
    for p in parts:
        v = p(env)
        if not v:
            return v
    return v


def _or(parts: list[Fn], env: Env) -> Any:
    v: Any = False
    for p in parts:
        v = p(env)
        if v:
            return v
    return v


def _neg(v: Any) -> Any:
    if v is None:
        return None
    if not _is_num(v):
        raise EvalError("负号只能用于数值")
    return -v


def _pos(v: Any) -> Any:
    if v is not None and not _is_num(v):
        raise EvalError("正号只能用于数值")
    return v


def compile_expr(source: str, *, names: Collection[str] | None = None,
                 functions: Mapping[str, tuple[Callable[..., Any], int, int | None]] | None = None) -> Expr:
    """Parse and check ``source``; refused with :class:`ExprError` (Chinese, with the position). ``names``: the
    only names it may read (None: any). ``functions``: more functions (name → (callable, least, most arguments)),
    for a caller that needs its own (an indicator's ``ratio()``)."""
    if not isinstance(source, str) or not source.strip():
        raise ExprError("表达式不能为空")
    if len(source) > MAX_SOURCE:
        raise ExprError(f"表达式过长（最多 {MAX_SOURCE} 个字符）")
    if "\x00" in source:
        raise ExprError("表达式含有不可见的控制字符")
    text = source.strip()
    # Python's parser recurses on brackets: refuse deep nesting before it sees the text
    depth = best = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            best = max(best, depth)
        elif ch in ")]}":
            depth -= 1
    if best > MAX_PARENS:
        raise ExprError(f"表达式嵌套过深（最多 {MAX_PARENS} 层括号）")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = exc.offset or 1
        line = exc.lineno or 1
        where = f"第 {col} 个字符附近" if line == 1 else f"第 {line} 行第 {col} 个字符附近"
        raise ExprError(f"表达式语法错误（{where}）", details={"line": line, "column": col}) from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExprError("表达式无法解析") from exc
    fns = dict(FUNCTIONS)
    if functions:
        fns.update(functions)
    c = _Compiler(text, names, fns)
    fn = c.build(tree.body)
    return Expr(source=text, names=frozenset(c.seen), _fn=fn)
