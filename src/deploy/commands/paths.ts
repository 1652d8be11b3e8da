/** Where a stack lives on a host: <root>/<stack>/{releases/<id>, current, .lock}. */
import { posix } from "node:path";

export interface StackPaths {
  stackDir: string;
  releasesDir: string;
  current: string;
  lockDir: string;
  release(id: string): string;
}

export function stackPaths(root: string, stack: string): StackPaths {
  const stackDir = posix.join(root, stack);
  const releasesDir = posix.join(stackDir, "releases");
  return {
    stackDir,
    releasesDir,
    current: posix.join(stackDir, "current"),
    lockDir: posix.join(stackDir, ".lock"),
    release: (id) => posix.join(releasesDir, id),
  };
}
