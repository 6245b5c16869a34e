// A stream tokenizer for Rhai (https://rhai.rs/book/), enough to highlight rule scripts and to
// indent by bracket depth. Token names are @lezer/highlight tag names, which StreamLanguage
// resolves to highlighting tags.

import { StreamLanguage } from "@codemirror/language";

const DEFINITION_KEYWORDS = new Set(["fn", "let", "const"]);
const CONTROL_KEYWORDS = new Set([
  "if", "else", "while", "loop", "for", "in", "do", "until", "break", "continue",
  "return", "throw", "try", "catch", "switch",
]);
const MODULE_KEYWORDS = new Set(["import", "export", "as", "private", "global"]);
const BUILT_INS = new Set(["Fn", "call", "curry", "type_of", "print", "debug", "is_def_var", "is_def_fn", "is_shared"]);

// `?[` is `?` and then a bracket, so the bracket counts for indentation.
const OPERATOR = /^(?:\?\?|\?\.|\.\.=|\.\.|::|=>|\*\*=?|<<=?|>>=?|&&|\|\||[+\-*/%&|^!=<>]=?|\?)/;
const NUMBER = /^(?:0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*/;
const CHARACTER = /^'(?:[^'\\]|\\[^']*)'/;
const BRACKET_TOKENS = { "{": "brace", "}": "brace", "(": "paren", ")": "paren", "[": "squareBracket", "]": "squareBracket" };

function startState() {
  return {
    // Nesting level of `/* */` comments, which nest in Rhai.
    commentDepth: 0,
    // The open string's quote, or null outside strings. A `"` string continues on the next line
    // after a trailing `\`, and a backtick string spans lines and has `${...}` interpolation.
    quote: null,
    // One entry per open `${` interpolation: the number of `{` opened inside it and not closed.
    interpolations: [],
    // Open brackets of any kind, which set the indentation of the next line.
    brackets: 0,
    // The previous token, so a name after `fn` is a definition and one after `.` a property.
    previous: "",
  };
}

function readBlockComment(stream, state) {
  while (!stream.eol()) {
    if (stream.match("/*")) {
      state.commentDepth++;
    } else if (stream.match("*/")) {
      state.commentDepth--;
      if (state.commentDepth === 0) break;
    } else {
      stream.next();
    }
  }
  return "blockComment";
}

function readQuotedString(stream, state) {
  while (!stream.eol()) {
    const ch = stream.next();
    if (ch === "\\") {
      // A backslash at the end of the line continues the string on the next line.
      if (stream.eol()) return "string";
      stream.next();
    } else if (ch === '"') {
      state.quote = null;
      return "string";
    }
  }
  // Without a trailing backslash a quoted string ends with its line (the compiler reports it).
  state.quote = null;
  return "string";
}

function readTemplateString(stream, state) {
  if (stream.match("${")) {
    state.interpolations.push(0);
    state.quote = null;
    return "string.special";
  }
  while (!stream.eol()) {
    if (stream.peek() === "$" && stream.string.startsWith("${", stream.pos)) break;
    if (stream.next() === "`") {
      state.quote = null;
      break;
    }
  }
  return "string";
}

function readBracket(ch, state) {
  const open = state.interpolations.length - 1;
  if (ch === "{" || ch === "(" || ch === "[") {
    state.brackets++;
    if (ch === "{" && open >= 0) state.interpolations[open]++;
    return BRACKET_TOKENS[ch];
  }
  if (ch === "}" && open >= 0 && state.interpolations[open] === 0) {
    // This `}` closes `${`, so the template string continues.
    state.interpolations.pop();
    state.quote = "`";
    return "string.special";
  }
  if (ch === "}" && open >= 0) state.interpolations[open]--;
  state.brackets = Math.max(0, state.brackets - 1);
  return BRACKET_TOKENS[ch];
}

function readName(stream, state, name) {
  if (DEFINITION_KEYWORDS.has(name)) return "definitionKeyword";
  if (CONTROL_KEYWORDS.has(name)) return "controlKeyword";
  if (MODULE_KEYWORDS.has(name)) return "moduleKeyword";
  if (name === "true" || name === "false") return "bool";
  if (name === "this") return "self";
  if (state.previous === "fn") return "variableName.definition";
  if (state.previous === "." || state.previous === "?.") return "propertyName";
  if (BUILT_INS.has(name)) return "variableName.standard";
  if (stream.match(/^\s*\(/, false)) return "variableName.function";
  // A map literal's key: `#{ decision: "hold" }`, but not a path such as `a::b`.
  if (stream.match(/^\s*:(?!:)/, false)) return "propertyName";
  return "variableName";
}

function readToken(stream, state) {
  if (state.commentDepth > 0) return readBlockComment(stream, state);
  if (state.quote === '"') return readQuotedString(stream, state);
  if (state.quote === "`") return readTemplateString(stream, state);
  if (stream.eatSpace()) return null;

  if (stream.match("//")) {
    stream.skipToEnd();
    return "lineComment";
  }
  if (stream.match("/*")) {
    state.commentDepth = 1;
    return readBlockComment(stream, state);
  }
  const ch = stream.peek();
  if (ch === '"' || ch === "`") {
    stream.next();
    state.quote = ch;
    if (ch === '"') return readQuotedString(stream, state);
    // The opening backtick is its own token when `${` follows at once.
    return stream.string.startsWith("${", stream.pos) ? "string" : readTemplateString(stream, state);
  }
  if (stream.match(CHARACTER)) return "character";
  if (stream.match(NUMBER)) return "number";
  if (stream.match("#{")) {
    state.brackets++;
    const open = state.interpolations.length - 1;
    if (open >= 0) state.interpolations[open]++;
    return "brace";
  }
  if ("{}()[]".includes(ch)) return readBracket(stream.next(), state);
  const name = stream.match(IDENTIFIER);
  if (name) return readName(stream, state, name[0]);
  if (stream.match(OPERATOR)) return "operator";
  stream.next();
  if (ch === "." || ch === ",") return ch === "." ? "derefOperator" : "separator";
  if (ch === ";" || ch === ":") return "punctuation";
  return null;
}

export const rhai = StreamLanguage.define({
  name: "rhai",
  startState,
  token(stream, state) {
    const style = readToken(stream, state);
    const text = stream.current();
    if (style !== null && style !== "lineComment" && style !== "blockComment") state.previous = text;
    return style;
  },
  indent(state, textAfter, context) {
    if (state.commentDepth > 0 || state.quote !== null) return null;
    const closing = /^[}\])]/.test(textAfter) ? 1 : 0;
    return Math.max(0, state.brackets - closing) * context.unit;
  },
  languageData: {
    commentTokens: { line: "//", block: { open: "/*", close: "*/" } },
    indentOnInput: /^\s*[}\])]$/,
  },
});
