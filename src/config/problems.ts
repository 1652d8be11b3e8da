/**
 * One shape for everything a user must fix: config errors, compose errors, planning warnings.
 * Rendered as `file:line:col: message (at key.path)` in the terminal and as check-run annotations.
 */
export interface Problem {
  file: string;
  /** 1-based; 0 when the problem has no position (e.g. a missing file). */
  line: number;
  col: number;
  /** Key path inside the file, e.g. `stacks[2].hosts`. Empty for whole-file problems. */
  key: string;
  message: string;
  severity: "error" | "warning";
}

export function formatProblem(p: Problem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
  const key = p.key ? ` (at ${p.key})` : "";
  return `${where}: ${p.severity}: ${p.message}${key}`;
}

export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === "error");
}

/** Thrown where a caller cannot continue; carries every problem found, not just the first. */
export class ProblemsError extends Error {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ProblemsError";
    this.problems = problems;
  }
}

/** Key path segments -> `a.b[2].c`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}
