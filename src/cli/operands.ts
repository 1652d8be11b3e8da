/** A command's positional arguments: the one it names (STACK, PROCEDURE, ID) and nothing after it. */
import { UsageError } from "./args.ts";

/** The operand the command needs; `what` names it in the usage error when it is missing. */
export function oneOperand(positionals: readonly string[], what: string): string {
  const [operand, ...extra] = positionals;
  if (!operand) throw new UsageError(`missing ${what}`);
  noMore(extra);
  return operand;
}

/** The operand the command may be given. */
export function optionalOperand(positionals: readonly string[]): string | undefined {
  const [operand, ...extra] = positionals;
  noMore(extra);
  return operand;
}

function noMore(extra: readonly string[]): void {
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
}
