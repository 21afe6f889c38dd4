import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";

/**
 * A configuration file's text parsed with the places of its keys kept, so that a problem can say which
 * line to edit ("unknown key mqtt.basetopic (line 4)"). Built on the yaml package's Document and
 * LineCounter.
 */
export class YamlFile {
  private constructor(
    /** The parsed value (what `yaml.parse` returns). */
    readonly value: unknown,
    private readonly document: ReturnType<typeof parseDocument>,
    private readonly lines: LineCounter,
  ) {}

  /** Parses `text`; throws with the yaml package's message (it names the line) when it is not YAML. */
  static parse(text: string): YamlFile {
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: true });
    const [error] = document.errors;
    if (error) throw error;
    return new YamlFile(document.toJS(), document, lines);
  }

  /**
   * The line (1-based) of the key at `path` (`["mqtt", "basetopic"]`, `["vms", 0, "grups"]`); where the
   * path goes deeper than the file (a key the file leaves to its default), the line of its deepest part
   * that is in the file; undefined when none is.
   */
  lineOf(path: readonly PropertyKey[]): number | undefined {
    let node: unknown = this.document.contents;
    let offset: number | undefined;
    for (const segment of path) {
      const found = child(node, segment);
      if (!found) break;
      offset = found.offset ?? offset;
      node = found.node;
    }
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }
}

/** The child of a mapping (by key) or a list (by index), with the offset of its key or item. */
function child(
  node: unknown,
  segment: PropertyKey,
): { node: unknown; offset: number | undefined } | undefined {
  if (isMap(node)) {
    const pair = node.items.find(
      (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
    );
    if (!pair) return undefined;
    return { node: pair.value, offset: (pair.key as Node).range?.[0] };
  }
  if (isSeq(node) && typeof segment === "number") {
    const item = node.items[segment];
    if (item === undefined) return undefined;
    return { node: item, offset: (item as Node | null)?.range?.[0] };
  }
  return undefined;
}
