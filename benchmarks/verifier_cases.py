"""Deterministic test cases for the verifiers, built from the real benchmark sets (used by tests and benchmarks).

- math: every gold answer restated in equivalent forms (must be judged correct) and perturbed (must be wrong);
- code: HumanEval canonical solutions and AST mutants of them (flipped comparisons, off-by-one constants,
  `return None`, swapped +/-);
- ifeval: responses written to satisfy and to violate each instruction of each IFEval prompt.
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import re
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "benchmarks"

# ---------------------------------------------------------------------------------------------------- loading


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_gsm8k(limit: int | None = None) -> list[dict]:
    """GSM8K test items: {"id", "question", "answer" (the text after '####')}."""
    rows = _jsonl(SHARED / "gsm8k" / "test.jsonl")
    items = [
        {"id": f"gsm8k/{i}", "question": r["question"], "answer": r["answer"].rsplit("####", 1)[1].strip()}
        for i, r in enumerate(rows)
    ]
    return items[:limit] if limit else items


def load_math500(limit: int | None = None) -> list[dict]:
    """MATH-500 items: {"id", "question", "answer" (the content of the solution's last \\boxed{})}."""
    from corpusforge.synthetic.verifiers.math_answer import last_boxed

    rows = _jsonl(SHARED / "math500" / "test.jsonl")
    items = [
        {"id": f"math500/{i}", "question": r["question"], "answer": last_boxed(r["answer"])} for i, r in enumerate(rows)
    ]
    return items[:limit] if limit else items


def load_humaneval(limit: int | None = None) -> list[dict]:
    """HumanEval problems as shipped: task_id, prompt, canonical_solution, test, entry_point."""
    with gzip.open(SHARED / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        items = [json.loads(line) for line in f]
    return items[:limit] if limit else items


def load_ifeval(limit: int | None = None) -> list[dict]:
    """IFEval prompts: key, prompt, instruction_id_list, kwargs."""
    items = _jsonl(SHARED / "ifeval" / "input_data.jsonl")
    return items[:limit] if limit else items


# ---------------------------------------------------------------------------------------------------- math

_INT = re.compile(r"^-?\d+$")
_DEC = re.compile(r"^-?\d*\.\d+$")
_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}$")
_UNITS = ("dollars", "cm", "meters", "units", "inches", "square feet", "degrees", "minutes")


def _plain(gold: str) -> str:
    """A number written with thousands separators or a dollar sign ("10,\\!080", "\\$32,\\!348") as digits."""
    bare = re.sub(r"^\\\$", "", gold.replace(",\\!", ",").replace("{,}", ","))
    return bare.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})*(\.\d+)?", bare) else gold


def _exact_decimal(value: Fraction) -> str | None:
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return None
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
    return f"{float(value):.{max(digits, 1)}f}"


def _top_level_split(text: str) -> list[str] | None:
    """`text` split at commas outside brackets, or None when there is no such comma."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts if len(parts) > 1 else None


def _number_forms(value: Fraction, rng: random.Random) -> list[str]:
    forms = []
    if value.denominator == 1:
        n = value.numerator
        forms += [
            f"{n}.0",
            f"{n}.00",
            f"\\frac{{{2 * n}}}{{2}}",
            f"{n} {rng.choice(_UNITS)}",
            f"{n}\\text{{ {rng.choice(_UNITS)}}}",
            f"\\${n}" if n >= 0 else f"-\\${-n}",
        ]
        if abs(n) >= 1000:
            forms += [f"{n:,}", f"{n:,}".replace(",", "{,}"), f"{n:,}".replace(",", "\\,")]
    else:
        sign, a, b = ("-" if value < 0 else ""), abs(value.numerator), value.denominator
        forms += [
            f"{sign}{a}/{b}",
            f"{sign}\\dfrac{{{a}}}{{{b}}}",
            f"\\frac{{{sign}{a}}}{{{b}}}",
            f"{sign}\\tfrac{{{a}}}{{{b}}}",
            f"{sign}\\frac{{{2 * a}}}{{{2 * b}}}",
        ]
        decimal = _exact_decimal(value)
        if decimal:
            forms.append(decimal)
    return forms


def _numeric_value(gold: str) -> Fraction | None:
    gold = _plain(gold)
    if _INT.match(gold) or _DEC.match(gold):
        return Fraction(gold)
    frac = _FRAC.match(gold.replace(" ", ""))
    if frac:
        value = Fraction(int(frac.group(2)), int(frac.group(3)))
        return -value if frac.group(1) else value
    return None


def math_restatements(gold: str, seed: int = 0) -> list[str]:
    """Responses whose final answer is `gold` restated in equivalent forms (deterministic per seed)."""
    rng = random.Random(f"{seed}:{gold}")
    value = _numeric_value(gold)
    forms = [gold]
    if value is not None:
        gold = _plain(gold)  # "40,000" is one number: its commas are not list separators
        forms += [gold, f"\\left( {gold} \\right)", *_number_forms(value, rng)]
    if "\\frac" in gold:
        forms += [gold.replace("\\frac", "\\dfrac"), gold.replace("\\frac", "\\tfrac")]
    if gold.startswith("(") and gold.endswith(")"):
        forms.append("\\left" + gold[:-1] + "\\right)")
    parts = _top_level_split(gold)
    if parts:
        forms.append(",\\, ".join(parts))  # latex spacing after the commas
        if not gold.startswith(("(", "[")) or gold.startswith("\\{"):
            forms.append(", ".join(reversed(parts)))  # an unordered list of answers, reordered
    inner = gold[2:-2] if gold.startswith("\\{") and gold.endswith("\\}") else None
    if inner and _top_level_split(inner):
        forms.append("\\{" + ", ".join(reversed(_top_level_split(inner))) + "\\}")
    forms.append(gold.replace(" ", "\\, ") if " " in gold else f"\\!{gold}")
    wrappers = [
        "The answer is {}.",
        "Putting it together, the final answer is $\\boxed{{{}}}$.",
        "So we get \\[\\boxed{{{}}}\\]",
        "Final answer: ${}$",
    ]
    responses = []
    for i, form in enumerate(dict.fromkeys(forms)):
        template = wrappers[i % len(wrappers)] if not form.startswith(("\\$", "-\\$")) else "The answer is {}."
        responses.append(template.format(form))
    if value is not None and value.denominator == 1:
        responses.append(f"Let me compute step by step: 3 + 4 = 7.\n#### {gold}")
        responses.append(f"Adding everything up gives a total of {value.numerator} dollars.")
    return responses


def _bump_first_integer(gold: str) -> str | None:
    match = re.search(r"\d+", gold)
    if not match:
        return None
    return gold[: match.start()] + str(int(match.group()) + 1) + gold[match.end() :]


def math_perturbations(gold: str) -> list[str]:
    """Responses whose final answer is NOT equivalent to `gold`: off by one, wrong sign, wrong fraction, swaps."""
    wrong: list[str] = []
    value = _numeric_value(gold)
    if value is not None:
        wrong += [str(value + 1), str(value - 1)]
        if value != 0:
            wrong.append(
                str(-value) if value.denominator == 1 else f"\\frac{{{-value.numerator}}}{{{value.denominator}}}"
            )
        if value.denominator != 1:
            a, b = value.numerator, value.denominator
            wrong += [f"\\frac{{{a + 1}}}{{{b}}}", f"\\frac{{{a}}}{{{b + 1}}}"]
            if abs(a) != b and a != 0:
                wrong.append(f"\\frac{{{b}}}{{{a}}}")
    else:
        bumped = _bump_first_integer(gold)
        if bumped:
            wrong.append(bumped)
        parts = _top_level_split(gold[1:-1]) if gold[:1] in "([" and gold[-1:] in ")]" else None
        if parts and gold.startswith("(") and len(set(parts)) > 1:
            swapped = [parts[1], parts[0], *parts[2:]]
            wrong.append("(" + ", ".join(swapped) + ")")  # a tuple's order matters
        if (
            not parts
            and not _top_level_split(gold)
            and not re.search(r"\\text|=|\\pm", gold)
            and re.search(r"\d|\\pi|[a-z]", gold)
        ):
            wrong.append(f"-\\left({gold}\\right)")
    return [f"The answer is $\\boxed{{{w}}}$." for w in dict.fromkeys(wrong) if w != gold]


# ---------------------------------------------------------------------------------------------------- code


class _Mutator(ast.NodeTransformer):
    """Applies one mutation, at the `target`-th site of its kind (counting in visiting order)."""

    FLIP: ClassVar[dict] = {
        ast.Lt: ast.GtE,
        ast.GtE: ast.Lt,
        ast.Gt: ast.LtE,
        ast.LtE: ast.Gt,
        ast.Eq: ast.NotEq,
        ast.NotEq: ast.Eq,
        ast.In: ast.NotIn,
        ast.NotIn: ast.In,
        ast.Is: ast.IsNot,
        ast.IsNot: ast.Is,
    }

    def __init__(self, kind: str, target: int):
        self.kind, self.target, self.seen, self.applied = kind, target, 0, False

    def _hit(self) -> bool:
        hit = self.seen == self.target
        self.seen += 1
        self.applied = self.applied or hit
        return hit

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "flip_comparison" and self._hit():
            node.ops = [self.FLIP.get(type(op), type(op))() for op in node.ops]
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if self.kind == "off_by_one" and type(node.value) is int and self._hit():
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "swap_add_sub" and isinstance(node.op, (ast.Add, ast.Sub)) and self._hit():
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "swap_add_sub" and isinstance(node.op, (ast.Add, ast.Sub)) and self._hit():
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        returns_something = node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None
        )
        if self.kind == "return_none" and returns_something and self._hit():
            node.value = ast.Constant(None)
        return node


MUTATIONS = ("flip_comparison", "off_by_one", "return_none", "swap_add_sub")


def code_mutants(problem: dict, per_kind: int = 1) -> list[tuple[str, str]]:
    """[(mutation name, full function source)] from the canonical solution, `per_kind` sites per mutation."""
    source = problem["prompt"] + problem["canonical_solution"]
    tree = ast.parse(source)
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == problem["entry_point"])
    mutants = []
    for kind in MUTATIONS:
        for site in range(per_kind):
            mutated = ast.parse(source)
            target = next(n for n in mutated.body if isinstance(n, ast.FunctionDef) and n.name == func.name)
            mutator = _Mutator(kind, site)
            for stmt in target.body:
                mutator.visit(stmt)
            if not mutator.applied:
                break
            mutants.append((f"{kind}#{site}", ast.unparse(mutated)))
    return mutants


# ---------------------------------------------------------------------------------------------------- ifeval

_FILLER = (
    "The river bends slowly past the old mill. Children play near the water in summer. "
    "Farmers bring fresh bread to the market every morning. The town hall opens at nine. "
    "Visitors often stop to watch the boats drift by. Evening light turns the hills gold. "
    "Local cooks share recipes that are many generations old. Nobody seems to hurry here. "
    "Rain comes in short bursts and then the sky clears again. The library keeps maps of the valley."
)
_FILLER_SENTENCES = [s.strip() + "." for s in _FILLER.split(".") if s.strip()]
_WORDS = sorted(set(re.findall(r"[a-z]+", _FILLER.lower())))
LANGUAGE_SAMPLES = {
    "en": "This is a short example written in the English language. We all work together and learn something new "
    "every day.",
    "hi": "यह एक छोटा सा उदाहरण है जो हिंदी भाषा में लिखा गया है। हम सब मिलकर काम करते हैं और हर दिन कुछ नया सीखते हैं।",
    "mr": "हे एक छोटे उदाहरण आहे जे मराठी भाषेत लिहिले आहे. आम्ही सर्वजण मिळून काम करतो आणि दररोज काहीतरी नवीन शिकतो.",
    "ne": "यो नेपाली भाषामा लेखिएको सानो उदाहरण हो। हामी सबै मिलेर काम गर्छौं र हरेक दिन केही नयाँ कुरा सिक्छौं।",
    "kn": "ಇದು ಕನ್ನಡ ಭಾಷೆಯಲ್ಲಿ ಬರೆದ ಒಂದು ಸಣ್ಣ ಉದಾಹರಣೆ. ನಾವು ಎಲ್ಲರೂ ಒಟ್ಟಿಗೆ ಕೆಲಸ ಮಾಡುತ್ತೇವೆ ಮತ್ತು ಪ್ರತಿದಿನ ಹೊಸದನ್ನು ಕಲಿಯುತ್ತೇವೆ.",
    "vi": "Đây là một ví dụ nhỏ được viết bằng tiếng Việt. Chúng tôi cùng nhau làm việc và học điều mới mỗi ngày.",
    "ko": "이것은 한국어로 쓴 짧은 예시입니다. 우리는 함께 일하고 매일 새로운 것을 배웁니다.",
    "sw": "Huu ni mfano mdogo ulioandikwa kwa lugha ya Kiswahili. Sisi sote tunafanya kazi pamoja na tunajifunza "
    "kitu kipya kila siku.",
    "de": "Dies ist ein kleines Beispiel, das auf Deutsch geschrieben wurde. Wir arbeiten alle zusammen und lernen "
    "jeden Tag etwas Neues.",
    "pa": "ਇਹ ਪੰਜਾਬੀ ਭਾਸ਼ਾ ਵਿੱਚ ਲਿਖੀ ਇੱਕ ਛੋਟੀ ਜਿਹੀ ਉਦਾਹਰਣ ਹੈ। ਅਸੀਂ ਸਾਰੇ ਮਿਲ ਕੇ ਕੰਮ ਕਰਦੇ ਹਾਂ ਅਤੇ ਹਰ ਰੋਜ਼ ਕੁਝ ਨਵਾਂ ਸਿੱਖਦੇ ਹਾਂ।",
    "fa": "این یک نمونه کوچک است که به زبان فارسی نوشته شده است. ما همه با هم کار می‌کنیم و هر روز چیز تازه‌ای یاد "
    "می‌گیریم.",
    "ru": "Это небольшой пример, написанный на русском языке. Мы все работаем вместе и каждый день узнаём что-то "
    "новое.",
    "bg": "Това е малък пример, написан на български език. Всички работим заедно и всеки ден научаваме нещо ново.",
    "pt": "Este é um pequeno exemplo escrito em língua portuguesa. Todos nós trabalhamos juntos e aprendemos algo novo "
    "todos os dias.",
    "gu": "આ ગુજરાતી ભાષામાં લખાયેલું એક નાનું ઉદાહરણ છે. આપણે બધા સાથે મળીને કામ કરીએ છીએ અને દરરોજ કંઈક નવું શીખીએ છીએ.",
    "te": "ఇది తెలుగు భాషలో రాసిన ఒక చిన్న ఉదాహరణ. మనమందరం కలిసి పని చేస్తాము మరియు ప్రతిరోజూ కొత్తది నేర్చుకుంటాము.",
    "it": "Questo è un piccolo esempio scritto in lingua italiana. Lavoriamo tutti insieme e impariamo qualcosa di "
    "nuovo ogni giorno.",
    "ar": "هذا مثال صغير مكتوب باللغة العربية. نحن نعمل جميعا معا ونتعلم شيئا جديدا كل يوم.",
    "ta": "இது தமிழ் மொழியில் எழுதப்பட்ட ஒரு சிறிய உதாரணம். நாம் அனைவரும் சேர்ந்து வேலை செய்கிறோம், ஒவ்வொரு நாளும் "
    "புதியதைக் கற்றுக்கொள்கிறோம்.",
    "fi": "Tämä on pieni esimerkki, joka on kirjoitettu suomen kielellä. Teemme kaikki töitä yhdessä ja opimme joka "
    "päivä jotain uutta.",
    "ur": "یہ اردو زبان میں لکھی گئی ایک چھوٹی سی مثال ہے۔ ہم سب مل کر کام کرتے ہیں اور ہر روز کچھ نیا سیکھتے ہیں۔",
    "th": "นี่คือตัวอย่างเล็กๆ ที่เขียนเป็นภาษาไทย พวกเราทำงานร่วมกันและเรียนรู้สิ่งใหม่ทุกวัน",
    "bn": "এটি বাংলা ভাষায় লেখা একটি ছোট উদাহরণ। আমরা সবাই একসাথে কাজ করি এবং প্রতিদিন নতুন কিছু শিখি।",
}


def _sentences(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_FILLER_SENTENCES) for _ in range(n))


def _words(rng: random.Random, n: int, avoid: str = "") -> str:
    pool = [w for w in _WORDS if not avoid or avoid not in w] or ["ok"]
    return " ".join(rng.choice(pool) for _ in range(n))


def _count_pair(relation: str, threshold: int) -> tuple[int, int]:
    """(a count that satisfies, one that violates) `relation threshold`."""
    below = max(threshold - 1, 0)
    return (threshold, below) if relation == "at least" else (below, threshold)


def _ifeval_pair(iid: str, kw: dict, rng: random.Random) -> tuple[list[str], list[str]]:
    """Responses meant to follow and to break one instruction (several of each where edge cases matter)."""
    body = _sentences(rng, 3)
    if iid == "keywords:existence":
        return [body + " " + " and ".join(kw["keywords"]) + "."], [_words(rng, 12, avoid="zzz")]
    if iid == "keywords:frequency":
        good, bad = _count_pair(kw["relation"], kw["frequency"])
        body = re.sub(re.escape(kw["keyword"]), "", body, flags=re.IGNORECASE)
        return ([body + (" " + kw["keyword"]) * good], [body + (" " + kw["keyword"]) * bad])
    if iid == "keywords:forbidden_words":
        clean = " ".join(
            w for w in body.split() if w.strip(".").lower() not in {f.lower() for f in kw["forbidden_words"]}
        )
        return [clean], [clean + " " + kw["forbidden_words"][-1].upper() + "!"]
    if iid == "keywords:letter_frequency":
        letter = kw["letter"].lower()
        good, bad = _count_pair(kw["let_relation"], kw["let_frequency"])
        base = _words(rng, 10, avoid=letter)
        return [base + " " + " ".join(letter * 1 for _ in range(good))], [
            base + " " + " ".join(letter for _ in range(bad))
        ]
    if iid == "language:response_language":
        other = "en" if kw["language"] != "en" else "de"
        return [LANGUAGE_SAMPLES[kw["language"]]], [LANGUAGE_SAMPLES[other]]
    if iid == "length_constraints:number_sentences":
        good, bad = _count_pair(kw["relation"], kw["num_sentences"])
        return [_sentences(rng, good)], [_sentences(rng, bad)]
    if iid == "length_constraints:number_paragraphs":
        n = kw["num_paragraphs"]
        paras = [_sentences(rng, 2) for _ in range(n + 1)]
        good = "\n\n***\n\n".join(paras[:n])
        return [good, "***\n" + good + "\n***"], ["\n\n***\n\n".join(paras), good.replace("***", "***\n***", 1)]
    if iid == "length_constraints:number_words":
        good, bad = _count_pair(kw["relation"], kw["num_words"])
        return [_words(rng, max(good, 1))], [_words(rng, max(bad, 1))]
    if iid == "length_constraints:nth_paragraph_first_word":
        n, nth, first = kw["num_paragraphs"], kw["nth_paragraph"], kw["first_word"]
        paras = [_sentences(rng, 2) for _ in range(max(n, nth))]
        paras[nth - 1] = f"{first.capitalize()} {paras[nth - 1]}"
        wrong = list(paras)
        wrong[nth - 1] = "Meanwhile " + paras[nth - 1][len(first) + 1 :]
        return (
            ["\n\n".join(paras), "\n\n".join(p.replace(f"{first.capitalize()} ", f'"{first}," ', 1) for p in paras)],
            ["\n\n".join(wrong), "\n\n".join(paras + [_sentences(rng, 1)])],
        )
    if iid == "detectable_content:number_placeholders":
        n = kw["num_placeholders"]
        return [body + " " + " ".join(f"[field {i}]" for i in range(n))], [
            body + " " + " ".join(f"[field {i}]" for i in range(n - 1))
        ]
    if iid == "detectable_content:postscript":
        marker = kw["postscript_marker"]
        return [body + f"\n\n{marker} {_sentences(rng, 1)}"], [body + " " + _sentences(rng, 1)]
    if iid == "detectable_format:number_bullet_lists":
        n = kw["num_bullets"]
        items = [f"* {_sentences(rng, 1)}" for _ in range(n + 1)]
        dashes = [f"- {_sentences(rng, 1)}" for _ in range(n)]
        return ["Intro.\n" + "\n".join(items[:n]), "\n".join(dashes)], [
            "\n".join(items),
            "Intro.\n" + "\n".join(items[: max(n - 1, 0)]),
        ]
    if iid == "detectable_format:constrained_response":
        return [rng.choice(["My answer is yes.", "My answer is no.", "My answer is maybe."])], ["Yes, I think so."]
    if iid == "detectable_format:number_highlighted_sections":
        n = kw["num_highlights"]
        return (
            [
                body + " " + " ".join(f"*part {i}*" for i in range(n)),
                body + " " + " ".join(f"**part {i}**" for i in range(n)),
            ],
            [body + " " + " ".join(f"*part {i}*" for i in range(n - 1)) + " ** **"],
        )
    if iid == "detectable_format:multiple_sections":
        spl, n = kw["section_spliter"].strip(), kw["num_sections"]
        secs = [f"{spl} {i + 1}\n{_sentences(rng, 1)}" for i in range(n)]
        return ["\n\n".join(secs)], ["\n\n".join(secs[:-1]) if n > 1 else body]
    if iid == "detectable_format:json_format":
        doc = json.dumps({"summary": _sentences(rng, 1), "items": [1, 2]})
        return [f"```json\n{doc}\n```", doc], [f"Here is the JSON: {doc}", doc[:-1]]
    if iid == "detectable_format:title":
        return [f"<<{_words(rng, 3).title()}>>\n{body}"], [f"<< >>\n{body}", f"<{_words(rng, 2)}>\n{body}"]
    if iid == "combination:two_responses":
        other = _sentences(rng, 2)
        return [f"{body}\n******\n{other}"], [f"{body}\n******\n{body}", f"{body}\n******\n\n******\n{other}"]
    if iid == "combination:repeat_prompt":
        return [kw["prompt_to_repeat"] + "\n" + body], [body + "\n" + kw["prompt_to_repeat"]]
    if iid == "startend:end_checker":
        return [f'"{body} {kw["end_phrase"]}"'], [f"{kw['end_phrase']} {body}"]
    if iid == "startend:quotation":
        return [f'"{body}"'], [f"{body}", f'"{body}']
    if iid == "change_case:capital_word_frequency":
        good, bad = _count_pair(kw["capital_relation"], kw["capital_frequency"])
        caps = lambda k: (
            _words(rng, 8) + " " + " ".join(w.upper() for w in _words(rng, k).split()) if k else _words(rng, 8)
        )
        return [caps(good)], [caps(bad)]
    if iid == "change_case:english_capital":
        return [(LANGUAGE_SAMPLES["en"] + " " + body).upper()], [body, LANGUAGE_SAMPLES["de"].upper()]
    if iid == "change_case:english_lowercase":
        return [(LANGUAGE_SAMPLES["en"] + " " + body).lower()], [body, LANGUAGE_SAMPLES["de"].lower()]
    if iid == "punctuation:no_comma":
        return [body], [body.replace(". ", ", ", 1)]
    raise KeyError(iid)


def ifeval_cases(items: list[dict], seed: int = 0) -> list[dict]:
    """For each prompt: its responses (meant to follow / break each instruction) and every instruction on each.

    Returns rows {"key", "instruction_id", "kwargs", "response", "intended"}: each instruction of a prompt is
    paired with every response written for that prompt (intended is None for another instruction's response).
    """
    rows = []
    for item in items:
        rng = random.Random(f"{seed}:{item['key']}")
        responses: list[tuple[int, str, bool]] = []
        instructions = [
            (iid, {k: v for k, v in kw.items() if v is not None})
            for iid, kw in zip(item["instruction_id_list"], item["kwargs"])
        ]
        for index, (iid, kw) in enumerate(instructions):
            good, bad = _ifeval_pair(iid, kw, rng)
            responses += [(index, r, True) for r in good] + [(index, r, False) for r in bad]
        for index, (iid, kw) in enumerate(instructions):
            for owner, response, follows in responses:
                rows.append(
                    {
                        "key": item["key"],
                        "instruction_id": iid,
                        "kwargs": kw,
                        "response": response,
                        "intended": follows if owner == index else None,
                    }
                )
    return rows


def reference_ifeval():
    """lm-eval's IFEval checker as a function (instruction_id, kwargs, prompt, response) -> bool, or the reason
    it cannot be loaded. Its modules are loaded from the installed package without running lm_eval.tasks'
    __init__ (which needs `datasets`, not what the checkers need)."""
    import importlib
    import os
    import sys
    import types

    try:
        import lm_eval
    except ImportError as exc:
        return None, f"lm-eval is not installed ({exc})"
    base = Path(lm_eval.__file__).parent / "tasks" / "ifeval"
    for name, path in (("lm_eval.tasks", base.parent), ("lm_eval.tasks.ifeval", base)):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [str(path)]
            sys.modules[name] = module
    os.environ.setdefault("LOCAL_RANK", "1")  # skip its punkt download attempt (no network); see NEEDS_PUNKT
    try:
        registry = importlib.import_module("lm_eval.tasks.ifeval.instructions_registry")
    except Exception as exc:  # any import failure means "no reference here", with the reason
        return None, f"lm-eval's ifeval checkers do not import: {type(exc).__name__}: {exc}"

    def check(instruction_id: str, kwargs: dict, prompt: str, response: str) -> bool:
        # As lm_eval/tasks/ifeval/utils.py test_instruction_following_strict.
        instruction = registry.INSTRUCTION_DICT[instruction_id](instruction_id)
        instruction.build_description(**{k: v for k, v in kwargs.items() if v})
        args = instruction.get_instruction_args()
        if args and "prompt" in args:
            instruction.build_description(prompt=prompt)
        return bool(response.strip() and instruction.check_following(response))

    return check, None


# ---------------------------------------------------------------------------------------------------- sandbox

REPO = Path(__file__).resolve().parents[1]


def _hostile_programs(canary: Path, marker: Path, repo_file: Path, port: int, secret: str) -> list[tuple[str, str]]:
    """(name, source) of programs that try to harm the host or the run."""
    return [
        ("infinite_loop", "while True:\n    pass\n"),
        ("sleep_forever", "import time\ntime.sleep(3600)\n"),
        ("fork_bomb", "import os\nwhile True:\n    os.fork()\n"),
        ("memory_bomb", "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n"),
        ("huge_stdout", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"),
        ("huge_file", "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 2**20)\n"),
        ("write_tmp_marker", f"open({str(marker)!r}, 'w').write('escaped')\nprint('wrote')\n"),
        ("write_repo", f"open({str(repo_file)!r}, 'w').write('escaped')\n"),
        (
            "delete_canary",
            (
                f"import os, shutil\ntry:\n    os.remove({str(canary)!r})\nexcept OSError as e:\n"
                f"    print(e)\nshutil.rmtree({str(canary.parent)!r})\n"
            ),
        ),
        (
            "open_socket",
            (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'escaped')\n"),
        ),
        (
            "read_secrets",
            (
                "import os, glob\nprint(dict(os.environ))\nfor p in glob.glob('/proc/*/environ'):\n"
                "    try:\n        print(p, open(p, 'rb').read())\n    except OSError as e:\n"
                "        print(p, e)\n"
            ),
        ),
        ("kill_parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
        ("kill_everything", "import os, signal\nos.kill(-1, signal.SIGKILL)\n"),
        ("recursion_bomb", "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n"),
        ("sys_exit_zero", "import sys\nsys.exit(0)\n"),
        ("os_exit_zero", "import os\nos._exit(0)\n"),
        ("close_stdout", "import os\nos.close(1)\nos.close(2)\nprint('gone')\n"),
    ]


# What each hostile program may end as (anything else means the sandbox did not contain it as designed).
HOSTILE_OUTCOMES = {
    "infinite_loop": {"cpu_limit", "timeout"},
    "sleep_forever": {"timeout"},
    "fork_bomb": {"cpu_limit", "timeout", "runtime_error", "killed"},
    "memory_bomb": {"memory_limit", "killed"},
    "huge_stdout": {"output_limit"},
    "huge_file": {"file_size_limit"},
    "write_tmp_marker": {"ok", "runtime_error"},
    "write_repo": {"runtime_error"},
    "delete_canary": {"runtime_error"},
    "open_socket": {"runtime_error"},
    "read_secrets": {"ok"},
    "kill_parent": {"runtime_error"},
    "kill_everything": {"runtime_error", "ok"},
    "recursion_bomb": {"runtime_error", "killed", "memory_limit", "cpu_limit", "timeout"},
    "sys_exit_zero": {"ok"},
    "os_exit_zero": {"ok"},
    "close_stdout": {"ok", "runtime_error"},
}


def run_hostile_suite(sandbox) -> list[dict]:
    """Run every hostile program; per program its outcome and whether host and run were unharmed."""
    import os
    import socket
    import subprocess
    import uuid

    tag = uuid.uuid4().hex[:12]
    canary_dir = REPO / f".hostile-canary-{tag}"
    canary_dir.mkdir()
    canary = canary_dir / "canary.txt"
    canary.write_text("still here")
    marker = Path("/tmp") / f"corpusforge-hostile-{tag}"
    repo_file = REPO / f"HOSTILE-{tag}"
    secret = f"fake-secret-{tag}"
    os.environ["CORPUSFORGE_FAKE_SECRET"] = secret
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    rows = []
    try:
        for name, source in _hostile_programs(canary, marker, repo_file, listener.getsockname()[1], secret):
            # Only a sleeping program needs the wall limit; the others end at their CPU or resource limits.
            run = sandbox.run({"main.py": source}, wall_timeout_s=2 if name == "sleep_forever" else None)
            harm = []
            if marker.exists():
                harm.append("wrote /tmp marker on the host")
            if repo_file.exists():
                harm.append("wrote into the repository")
            if not canary.exists():
                harm.append("deleted the canary")
            try:
                listener.accept()[0].close()
                harm.append("reached a loopback listener")
            except BlockingIOError:
                pass
            if secret.encode() in run.stdout + run.stderr:
                harm.append("read the parent's secret")
            if subprocess.run(["true"], check=False).returncode != 0:
                harm.append("host cannot start processes")
            if len(run.stdout) + len(run.stderr) > sandbox.config.output_limit_bytes:
                harm.append("output past the cap")
            expected = run.outcome in HOSTILE_OUTCOMES[name]
            rows.append(
                {
                    "name": name,
                    "outcome": run.outcome,
                    "expected_outcome": expected,
                    "contained": not harm and expected,
                    "harm": harm,
                    "wall_s": round(run.wall_s, 2),
                }
            )
    finally:
        del os.environ["CORPUSFORGE_FAKE_SECRET"]
        listener.close()
        for path in (marker, repo_file):
            path.unlink(missing_ok=True)
        canary.unlink(missing_ok=True)
        canary_dir.rmdir()
    return rows
