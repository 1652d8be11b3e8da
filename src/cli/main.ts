/**
 * The `stackpilot` command: dispatch to a subcommand, map errors to exit codes.
 * 0 success, 1 a problem with the inputs (config, hosts, state) or a failed operation, 2 usage.
 */
import { formatProblem, ProblemsError } from "../config/problems.ts";
import { UsageError } from "./args.ts";

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const HELP = `Usage: stackpilot <command> [options]

GitOps for Docker Compose stacks.

Commands:
  plan        show which stacks changed and what would be deployed where
  deploy      deploy what differs from what is deployed, over SSH
  rollback    re-activate an earlier release of a stack and pin it
  status      what is deployed where, the latest deployments and their logs, locks held
  hosts       list the hosts of a hosts file, or check they are reachable and ready
  run         run a procedure (by the App; --dry-run shows what it would do)
  runs        procedure runs and their stages, steps and results
  stop        stop a stack on purpose: nothing starts it until start
  start       start a stack stopped on purpose

Run "stackpilot <command> --help" for a command's options.
`;

interface Command {
  run: (argv: string[], io: Io) => Promise<number>;
  help: string;
}

/**
 * Each command's module is imported when that command runs: `plan` then never loads the SSH,
 * database and queue libraries `deploy` needs (loading them all cost a plan 30-45 MB of RSS).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  plan: async () => {
    const m = await import("./plan.ts");
    return { run: m.planCommand, help: m.PLAN_HELP };
  },
  deploy: async () => {
    const m = await import("./deploy.ts");
    return { run: m.deployCommand, help: m.DEPLOY_HELP };
  },
  rollback: async () => {
    const m = await import("./rollback.ts");
    return { run: m.rollbackCommand, help: m.ROLLBACK_HELP };
  },
  status: async () => {
    const m = await import("./status.ts");
    return { run: m.statusCommand, help: m.STATUS_HELP };
  },
  hosts: async () => {
    const m = await import("./hosts.ts");
    return { run: m.hostsCommand, help: m.HOSTS_HELP };
  },
  run: async () => {
    const m = await import("./run.ts");
    return { run: m.runCommand, help: m.RUN_HELP };
  },
  runs: async () => {
    const m = await import("./runs.ts");
    return { run: m.runsCommand, help: m.RUNS_HELP };
  },
  stop: async () => {
    const m = await import("./stop.ts");
    return { run: m.stopCommand, help: m.STOP_HELP };
  },
  start: async () => {
    const m = await import("./start.ts");
    return { run: m.startCommand, help: m.START_HELP };
  },
};

export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.out(HELP);
    return name ? 0 : 2;
  }
  if (name === "--version") {
    io.out("stackpilot 0.1.0\n");
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    io.err(`stackpilot: unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`stackpilot ${name}: ${err.message}\n\n${command.help}`);
      return 2;
    }
    if (err instanceof ProblemsError) {
      io.err(`${err.problems.map(formatProblem).join("\n")}\n`);
      return 1;
    }
    io.err(`stackpilot ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}
