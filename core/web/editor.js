// The rule script editor of the web page: CodeMirror 6 with Rhai highlighting, line numbers,
// bracket matching, undo history and a marker for the compile error. `npm run build` bundles it
// into core/src/http/assets/editor.js, which sets `window.ShopkeeperEditor`.

import { Compartment, EditorState, RangeSet, StateEffect, StateField } from "@codemirror/state";
import {
  Decoration,
  EditorView,
  GutterMarker,
  WidgetType,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumberMarkers,
  lineNumbers,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentLess, indentMore } from "@codemirror/commands";
import { HighlightStyle, bracketMatching, indentOnInput, indentUnit, syntaxHighlighting } from "@codemirror/language";
import { tags } from "@lezer/highlight";
import { rhai } from "./rhai.js";

const INDENT = "    ";

const rhaiHighlighting = HighlightStyle.define([
  { tag: tags.keyword, color: "#7c3aed" },
  { tag: [tags.bool, tags.self, tags.number, tags.character], color: "#0369a1" },
  { tag: [tags.string], color: "#047857" },
  { tag: tags.special(tags.string), color: "#b45309" },
  { tag: tags.comment, color: "#6b7280", fontStyle: "italic" },
  { tag: tags.definition(tags.variableName), color: "#1d4ed8", fontWeight: "600" },
  { tag: [tags.function(tags.variableName), tags.standard(tags.variableName)], color: "#1d4ed8" },
  { tag: tags.propertyName, color: "#9d174d" },
  { tag: tags.operator, color: "#b45309" },
]);

const theme = EditorView.theme({
  "&": { backgroundColor: "#fff", fontSize: "13px" },
  "&.cm-focused": { outline: "2px solid #93c5fd" },
  ".cm-scroller": { fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, "DejaVu Sans Mono", monospace', lineHeight: "1.5" },
  ".cm-content, .cm-gutter": { minHeight: "360px" },
  ".cm-gutters": { backgroundColor: "#f3f4f6", color: "#9ca3af", borderRight: "1px solid #e5e7eb" },
  ".cm-lineNumbers .cm-gutterElement": { padding: "0 6px 0 8px", minWidth: "38px" },
  ".cm-activeLine": { backgroundColor: "#f8fafc" },
  ".cm-activeLineGutter": { backgroundColor: "#e5e7eb", color: "#374151" },
  ".cm-line.cm-error-line": { backgroundColor: "#fee2e2" },
  ".cm-lineNumbers .cm-gutterElement.cm-error-line-number": { color: "#fff", backgroundColor: "#b91c1c", fontWeight: "600" },
  ".cm-error-mark": { textDecoration: "underline wavy #b91c1c", textUnderlineOffset: "3px" },
  ".cm-error-end": { display: "inline-block", width: "0.6em", height: "1.1em", verticalAlign: "text-bottom", borderBottom: "2px solid #b91c1c" },
  ".cm-matchingBracket": { backgroundColor: "#dbeafe", outline: "1px solid #93c5fd" },
  ".cm-nonmatchingBracket": { backgroundColor: "#fee2e2" },
});

// Tab inserts four spaces or indents the selected lines, and Shift-Tab removes one level. Escape
// followed by Tab within 2 s still moves the focus out of the editor (CodeMirror's tab focus mode).
function insertIndent(view) {
  if (view.state.selection.ranges.some(range => !range.empty)) return indentMore(view);
  view.dispatch(view.state.update(view.state.replaceSelection(INDENT), { scrollIntoView: true, userEvent: "input" }));
  return true;
}

const tabKeymap = [{ key: "Tab", run: insertIndent, shift: indentLess }];

// Effect that marks a compile error `{ line, column, message }`, or clears the mark when null.
const setError = StateEffect.define();

class ErrorLineNumber extends GutterMarker {
  get elementClass() {
    return "cm-error-line-number";
  }
}

// Marks the end of a line when the error's column is past its last character.
class ErrorEndWidget extends WidgetType {
  constructor(message) {
    super();
    this.message = message;
  }
  eq(other) {
    return other.message === this.message;
  }
  toDOM() {
    const span = document.createElement("span");
    span.className = "cm-error-end";
    span.title = this.message;
    return span;
  }
}

const noError = { decorations: Decoration.none, lineNumbers: RangeSet.empty };

// Converts a 1-based column in Unicode characters (as Rhai counts) into a document offset
// (UTF-16 code units) on `line`.
function columnOffset(line, column) {
  let offset = line.from;
  let current = 1;
  for (const character of line.text) {
    if (current >= column) break;
    offset += character.length;
    current++;
  }
  return offset;
}

function errorDecorations(doc, { line: lineNumber, column, message }) {
  const line = doc.line(Math.min(Math.max(1, lineNumber), doc.lines));
  const ranges = [Decoration.line({ class: "cm-error-line", attributes: { title: message } }).range(line.from)];
  const offset = columnOffset(line, column || 1);
  if (offset < line.to) {
    // Rhai's column is the start of a token, so the mark covers the word there or one character.
    const word = /^[\p{L}\p{N}_]+/u.exec(line.text.slice(offset - line.from));
    const end = offset + (word ? word[0].length : String.fromCodePoint(line.text.codePointAt(offset - line.from)).length);
    ranges.push(Decoration.mark({ class: "cm-error-mark", attributes: { title: message } }).range(offset, end));
  } else {
    ranges.push(Decoration.widget({ widget: new ErrorEndWidget(message), side: 1 }).range(line.to));
  }
  return {
    decorations: Decoration.set(ranges, true),
    lineNumbers: RangeSet.of([new ErrorLineNumber().range(line.from)]),
  };
}

// The marks move with the text while someone types, until the next check replaces or clears them.
const errorField = StateField.define({
  create: () => noError,
  update(value, transaction) {
    let next = value;
    if (transaction.docChanged) {
      next = { decorations: value.decorations.map(transaction.changes), lineNumbers: value.lineNumbers.map(transaction.changes) };
    }
    for (const effect of transaction.effects) {
      if (effect.is(setError)) next = effect.value ? errorDecorations(transaction.state.doc, effect.value) : noError;
    }
    return next;
  },
  provide: field => [
    EditorView.decorations.from(field, value => value.decorations),
    lineNumberMarkers.from(field, value => value.lineNumbers),
  ],
});

const views = new WeakMap();

const labelAttributes = label => EditorView.contentAttributes.of({ "aria-label": label });

// Creates an editor in `parent` with `doc` as its text and `label` as its accessible name.
// `onChange(text)` runs after every edit made in the editor or through `replaceDocument`, but not
// after `setValue`.
function create(parent, { doc = "", onChange = () => {}, label = "Script" } = {}) {
  const labelCompartment = new Compartment();
  const extensions = () => [
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    history(),
    drawSelection(),
    indentOnInput(),
    bracketMatching(),
    highlightActiveLine(),
    rhai,
    syntaxHighlighting(rhaiHighlighting),
    indentUnit.of(INDENT),
    EditorState.tabSize.of(4),
    keymap.of([...tabKeymap, ...defaultKeymap, ...historyKeymap]),
    errorField,
    theme,
    EditorView.contentAttributes.of({ spellcheck: "false" }),
    labelCompartment.of(labelAttributes(label)),
    EditorView.updateListener.of(update => {
      if (update.docChanged) onChange(update.state.doc.toString());
    }),
  ];
  const view = new EditorView({ parent, state: EditorState.create({ doc, extensions: extensions() }) });
  const editor = {
    // The editor's root element, to move the editor when a page rebuilds its HTML.
    dom: view.dom,
    view,
    getValue: () => view.state.doc.toString(),
    // Loads `text` as a new document: the undo history and the error marks start afresh and
    // `onChange` does not run.
    setValue(text) {
      view.setState(EditorState.create({ doc: text, extensions: extensions() }));
    },
    // Replaces the whole text as one edit that undo reverts; `onChange` runs.
    replaceDocument(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text }, userEvent: "input.paste" });
    },
    // Marks a compile error at a 1-based line and column (in characters) with its message.
    markError(line, column, message) {
      view.dispatch({ effects: setError.of({ line, column, message: message || "" }) });
    },
    clearError() {
      view.dispatch({ effects: setError.of(null) });
    },
    // The marked error's line number, or null when no error is marked.
    errorLine() {
      const cursor = view.state.field(errorField).lineNumbers.iter();
      return cursor.value ? view.state.doc.lineAt(cursor.from).number : null;
    },
    // Sets the accessible name, for example after the page switches its language.
    setLabel(text) {
      if (text === label) return;
      label = text;
      view.dispatch({ effects: labelCompartment.reconfigure(labelAttributes(label)) });
    },
    // Moves the editor into `parent`.
    attach(parent) {
      if (view.dom.parentNode !== parent) parent.appendChild(view.dom);
      view.requestMeasure();
    },
    focus: () => view.focus(),
    hasFocus: () => view.hasFocus,
    destroy: () => view.destroy(),
  };
  views.set(view.dom, editor);
  return editor;
}

// Returns the editor that contains `element` or is inside it, or null.
function find(element) {
  if (!element) return null;
  const root = element.closest(".cm-editor") || element.querySelector(".cm-editor");
  return (root && views.get(root)) || null;
}

window.ShopkeeperEditor = { create, find };
