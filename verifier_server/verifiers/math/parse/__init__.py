r"""LaTeX / plain-text math -> `Answer`: a small recursive-descent parser building sympy values.

Fast and predictable by design: no antlr, no `eval`, no sympy `parse_expr`. It reads the grammar below
and nothing else; anything else raises `ParseError` (an unparsable answer is never guessed at). The
tokens come from lexer.py: NUM (`12`, `0.5`, `5.1e-2`), SYM (one letter, `oo`), CMD (`\frac`, and plain
names such as `sqrt`, `sin`), WORD (text, units), OP (punctuation and operators; `\le` is "<=",
`\cdot` is "*", `\left`/`\right` are dropped) and END.

    answer       = WORDS                                  (* only words: number word, named set, text *)
                 | [ ... "=>" ] items END ;               (* after the last \Rightarrow *)
    items        = item { sep { sep } item } [ sep { sep } ] ;       sep = "," | ";"
    item         = "..." | relation [ units ] ;
    units        = WORD { WORD | "^" token } ;
    relation     = set_expr { relop set_expr } ;
    relop        = "=" | "<" | ">" | "<=" | ">=" | "!=" | "\approx" | "\in" ;
    set_expr     = ratio { ( "\cup" | "\cap" | "\setminus" ) ratio } ;
    ratio        = sum { ":" sum } ;                      (* a:b is a/b; a:b:c a tuple *)
    sum          = [ sign ] term { sign term } ;          sign = "+" | "-" | "\pm" | "\mp"
    term         = unary { ( "*" | "/" ) unary | unary } ;
                   (* implicit product: the next unary starts with SYM, CMD, "(", "{", \lfloor or
                      \lceil; with NUM only inside a big operator's body *)
    unary        = ( "-" | "+" ) unary | power ;
    power        = postfix [ "^" exponent { postfix_op } ] ;
    exponent     = "-" exponent | group | postfix [ "^" exponent ] ;
    postfix      = primary { postfix_op } ;               postfix_op = "!" | "%" | "'"
    primary      = number | symbol | command | group
                 | "(" bracketed | "[" bracketed
                 | "\{" [ items ] "\}" | "|" sum "|"
                 | "\lfloor" sum "\rfloor" | "\lceil" sum "\rceil" ;
    bracketed    = items ( ")" | "]" ) ;                  (* one item: grouping; two, with a square
                                                             bracket on a side: interval; else tuple *)
    group        = "{" items [ "\choose" sum ] "}" ;      (* a list only where a list may stand *)
    argument     = group | DIGIT | primary ;              (* \frac12: one digit of an integer *)
    number       = NUM [ "_" base ] [ mixed ] ;           (* 204_5; 4\frac{4}{9}, 4 4/9 *)
    base         = DIGITS | "{" DIGITS "}" ;
    mixed        = "\frac" argument argument | NUM "/" NUM ;
    symbol       = ( "C" | "A" ) "_" argument "^" argument          (* C_n^k, A_n^k *)
                 | SYM [ "_" text_argument ] [ "(" items ")" ] ;    (* x_1; f(x), C(n, k) *)
    text_argument = "{" { token } "}" | token ;
    command      = "\frac" argument argument
                 | "\sqrt" [ "[" sum "]" ] ( "(" bracketed | argument )
                 | ( "\binom" | "\dbinom" | "\tbinom" ) argument argument
                 | big_operator | function | environment
                 | "\mathbb" text_argument | ( "\boxed" | "\fbox" ) group | STYLE argument
                 | "\pi" | "\emptyset" | GREEK | CMD [ "(" items ")" ] ;
    function     = FUNCTION [ "_" argument ] [ "^" exponent ]
                   ( "(" items ")" | power { power } [ "degree" ] ) ;
                   (* the unbracketed argument continues while the next power starts with SYM,
                      GREEK, \pi, \frac or \sqrt: \sin 2x is sin(2x), \sin b \cos a stops at \cos *)
    big_operator = ( "\sum" | "\prod" ) "_" ( "{" SYM "=" sum "}" | SYM "=" primary )
                   "^" argument term ;
    environment  = "\begin" "{" MATRIX "}" [ "{" { token } "}" ] { sum | "&" | "\\" }
                   "\end" "{" MATRIX "}" ;

A plain mixed number (`-1 234 5/6`) is read before tokenizing (answer.py). Each module holds the rules
of one part of the grammar, as a class adding them to the ones it builds on: cursor.py (tokens, errors,
depth) <- operators.py (sum ... postfix) <- lists.py (answer ... ratio) <- groups.py (group, argument,
bracketed, delimited primaries) <- atoms.py (number, symbol), functions.py, sums.py (big_operator),
environments.py <- commands.py (command) <- parser.py (`Parser`: primary). build.py holds the checked
value constructors (scalar coercion, matrix-aware arithmetic, size guards, ± expansion).
"""

from rlvr.verifier_server.verifiers.math.parse.answer import ParseConfig, parse_answer, parse_reference
from rlvr.verifier_server.verifiers.math.parse.choice import choice_letter

__all__ = ["ParseConfig", "choice_letter", "parse_answer", "parse_reference"]
