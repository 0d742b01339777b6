"""Unicode math characters and their LaTeX spelling, for MathML-to-LaTeX conversion.

MathML carries operators and identifiers as Unicode (U+2211 for a sum, U+03B1 for alpha); the
lane writes LaTeX, so each common character maps to the command a TeX author would type.
"""

from __future__ import annotations

from corpusforge.core.greek import GREEK_LETTERS

_GREEK = GREEK_LETTERS
_GREEK_UPPER = [
    "Alpha",
    "Beta",
    "Gamma",
    "Delta",
    "Epsilon",
    "Zeta",
    "Eta",
    "Theta",
    "Iota",
    "Kappa",
    "Lambda",
    "Mu",
    "Nu",
    "Xi",
    "Omicron",
    "Pi",
    "Rho",
    "-",
    "Sigma",
    "Tau",
    "Upsilon",
    "Phi",
    "Chi",
    "Psi",
    "Omega",
]

SYMBOLS: dict[str, str] = {}
for _i, _name in enumerate(_GREEK):
    SYMBOLS[chr(0x03B1 + _i)] = "\\" + _name
for _i, _name in enumerate(_GREEK_UPPER):
    if _name != "-":
        SYMBOLS[chr(0x0391 + _i)] = "\\" + _name
# Upper-case Greek letters that look Latin have no TeX command: TeX authors write the Latin letter.
for _c, _latin in zip("ΑΒΕΖΗΙΚΜΝΟΡΤΧ", "ABEZHIKMNOPTX"):
    SYMBOLS[_c] = _latin
SYMBOLS["ο"] = "o"
SYMBOLS.update(
    {
        "ϵ": "\\epsilon",
        "ε": "\\varepsilon",
        "ϑ": "\\vartheta",
        "ϕ": "\\phi",
        "φ": "\\varphi",
        "ϖ": "\\varpi",
        "ϱ": "\\varrho",
        "ς": "\\varsigma",
        "ϒ": "\\Upsilon",
        # operators
        "∑": "\\sum",
        "∏": "\\prod",
        "∐": "\\coprod",
        "∫": "\\int",
        "∬": "\\iint",
        "∭": "\\iiint",
        "∮": "\\oint",
        "⋃": "\\bigcup",
        "⋂": "\\bigcap",
        "⨁": "\\bigoplus",
        "⨂": "\\bigotimes",
        "⋁": "\\bigvee",
        "⋀": "\\bigwedge",
        "±": "\\pm",
        "∓": "\\mp",
        "×": "\\times",
        "÷": "\\div",
        "⋅": "\\cdot",
        "·": "\\cdot",
        "∗": "\\ast",
        "∘": "\\circ",
        "∙": "\\bullet",
        "⊕": "\\oplus",
        "⊗": "\\otimes",
        "⊖": "\\ominus",
        "⊙": "\\odot",
        "∪": "\\cup",
        "∩": "\\cap",
        "∧": "\\wedge",
        "∨": "\\vee",
        "∖": "\\setminus",
        "−": "-",
        "⁄": "/",
        "√": "\\surd",
        "∇": "\\nabla",
        "∂": "\\partial",
        "′": "'",
        "″": "''",
        "‴": "'''",
        # relations
        "≤": "\\leq",
        "≥": "\\geq",
        "≠": "\\neq",
        "≈": "\\approx",
        "≡": "\\equiv",
        "∼": "\\sim",
        "≃": "\\simeq",
        "≅": "\\cong",
        "∝": "\\propto",
        "≪": "\\ll",
        "≫": "\\gg",
        "≺": "\\prec",
        "≻": "\\succ",
        "⪯": "\\preceq",
        "⪰": "\\succeq",
        "∈": "\\in",
        "∉": "\\notin",
        "∋": "\\ni",
        "⊂": "\\subset",
        "⊃": "\\supset",
        "⊆": "\\subseteq",
        "⊇": "\\supseteq",
        "⊊": "\\subsetneq",
        "⊥": "\\perp",
        "∥": "\\parallel",
        "∣": "\\mid",
        "⊢": "\\vdash",
        "⊨": "\\models",
        "≔": ":=",
        "≜": "\\triangleq",
        "≐": "\\doteq",
        "⩽": "\\leqslant",
        "⩾": "\\geqslant",
        "≲": "\\lesssim",
        "≳": "\\gtrsim",
        "⊲": "\\triangleleft",
        "⊳": "\\triangleright",
        # arrows
        "→": "\\to",
        "←": "\\leftarrow",
        "↔": "\\leftrightarrow",
        "⇒": "\\Rightarrow",
        "⇐": "\\Leftarrow",
        "⇔": "\\Leftrightarrow",
        "↦": "\\mapsto",
        "⟶": "\\longrightarrow",
        "⟵": "\\longleftarrow",
        "⟹": "\\Longrightarrow",
        "⟺": "\\Longleftrightarrow",
        "↑": "\\uparrow",
        "↓": "\\downarrow",
        "⇌": "\\rightleftharpoons",
        "↪": "\\hookrightarrow",
        "⇀": "\\rightharpoonup",
        "⟼": "\\longmapsto",
        # letters and constants
        "∞": "\\infty",
        "∅": "\\emptyset",
        "ℵ": "\\aleph",
        "ℏ": "\\hbar",
        "ℓ": "\\ell",
        "℘": "\\wp",
        "ℜ": "\\Re",
        "ℑ": "\\Im",
        "ℝ": "\\mathbb{R}",
        "ℕ": "\\mathbb{N}",
        "ℤ": "\\mathbb{Z}",
        "ℚ": "\\mathbb{Q}",
        "ℂ": "\\mathbb{C}",
        "ℙ": "\\mathbb{P}",
        "∀": "\\forall",
        "∃": "\\exists",
        "∄": "\\nexists",
        "¬": "\\neg",
        "∠": "\\angle",
        "△": "\\triangle",
        "°": "^{\\circ}",
        "…": "\\ldots",
        "⋯": "\\cdots",
        "⋮": "\\vdots",
        "⋱": "\\ddots",
        "⟨": "\\langle",
        "⟩": "\\rangle",
        "〈": "\\langle",
        "〉": "\\rangle",
        "⌈": "\\lceil",
        "⌉": "\\rceil",
        "⌊": "\\lfloor",
        "⌋": "\\rfloor",
        "‖": "\\|",
        "†": "\\dagger",
        "‡": "\\ddagger",
        "★": "\\star",
        "{": "\\{",
        "}": "\\}",
        "#": "\\#",
        "%": "\\%",
        "&": "\\&",
        # invisible operators (function application, times, separator, plus): nothing to write
        "\u2061": "",
        "\u2062": "",
        "\u2063": "",
        "\u2064": "",
    }
)

# mover/munder accents: the character over (under) the base -> the LaTeX accent command.
ACCENTS_OVER: dict[str, str] = {
    "^": "\\hat",
    "\u0302": "\\hat",
    "ˆ": "\\hat",
    "~": "\\tilde",
    "˜": "\\tilde",
    "\u0303": "\\tilde",
    "¯": "\\overline",
    "‾": "\\overline",
    "\u0305": "\\overline",
    "_": "\\overline",
    "→": "\\vec",
    "\u20d7": "\\vec",
    "˙": "\\dot",
    "\u0307": "\\dot",
    "¨": "\\ddot",
    "\u0308": "\\ddot",
    "ˇ": "\\check",
    "˘": "\\breve",
    "⏞": "\\overbrace",
    "⌢": "\\overarc",
}
ACCENTS_UNDER: dict[str, str] = {"_": "\\underline", "\u0332": "\\underline", "¯": "\\underline", "⏟": "\\underbrace"}

# Operators whose limits go below/above (munder/mover around them become _ and ^).
LIMIT_OPERATORS = frozenset(
    [
        "\\sum",
        "\\prod",
        "\\coprod",
        "\\int",
        "\\iint",
        "\\iiint",
        "\\oint",
        "\\bigcup",
        "\\bigcap",
        "\\bigoplus",
        "\\bigotimes",
        "\\bigvee",
        "\\bigwedge",
        "\\lim",
        "\\max",
        "\\min",
        "\\sup",
        "\\inf",
        "\\limsup",
        "\\liminf",
        "\\det",
        "\\gcd",
        "\\Pr",
    ]
)

# Multi-letter identifiers that are named functions in TeX (mi "sin" -> \sin, not s i n).
FUNCTIONS = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "coth",
        "log",
        "ln",
        "lg",
        "exp",
        "lim",
        "max",
        "min",
        "sup",
        "inf",
        "det",
        "dim",
        "ker",
        "deg",
        "gcd",
        "hom",
        "arg",
        "Pr",
        "limsup",
        "liminf",
    ]
)

MATHVARIANTS: dict[str, str] = {
    "bold": "\\mathbf",
    "double-struck": "\\mathbb",
    "script": "\\mathcal",
    "fraktur": "\\mathfrak",
    "sans-serif": "\\mathsf",
    "monospace": "\\mathtt",
    "bold-italic": "\\boldsymbol",
    "italic": "",
}


def join_tex(pieces: list[str]) -> str:
    """Concatenate LaTeX pieces, with a space where a command name would run into a letter."""
    out: list[str] = []
    prev_command = False
    for piece in pieces:
        if not piece:
            continue
        if prev_command and (piece[0].isalpha() or piece[0] == "*"):
            out.append(" ")
        out.append(piece)
        prev_command = _ends_with_command(piece)
    return "".join(out)


def _ends_with_command(piece: str) -> bool:
    i = len(piece)
    while i > 0 and piece[i - 1].isalpha():
        i -= 1
    return i < len(piece) and i > 0 and piece[i - 1] == "\\" and piece[i:].isascii()


def latex_symbol(text: str) -> str:
    """`text` with each mapped Unicode math character replaced by its LaTeX command."""
    if text.isascii() and not any(c in "{}#%&" for c in text):
        return text
    return join_tex([SYMBOLS.get(ch, ch) for ch in text])
