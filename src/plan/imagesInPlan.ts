/**
 * An image plan (images.ts `planImages`) attached to the plan: the builds at the top, per deploy
 * target its image operations and the services whose image changed since its deployed commit.
 * Pure.
 */
import type { StackSnapshot } from "../detect/snapshot.ts";
import { short } from "../git/range.ts";
import { asBroken } from "./broken.ts";
import type { ImagePlan, ImagePlanInput } from "./images.ts";
import { type Plan, summarize } from "./plan.ts";

/**
 * Per deploy target, the services (without `build:`) whose image reference changed since the
 * commit deployed there: the deploy pulls them before `up`. A target never deployed pulls nothing
 * explicitly (`up` pulls what is missing).
 */
export function withPulls(plan: Plan, input: ImagePlanInput): Plan {
  if (!input.previous?.size) return plan;
  return {
    ...plan,
    stacks: plan.stacks.map((s) => {
      const next = input.head.stacks.get(s.name);
      if (!next) return s;
      return {
        ...s,
        targets: s.targets.map((t) => {
          const commit = t.action === "deploy" ? t.deployed?.commit : undefined;
          const before = commit ? input.previous?.get(commit)?.stacks.get(s.name) : undefined;
          const pull = changedImages(next, before);
          return pull.length ? { ...t, pull } : t;
        }),
      };
    }),
  };
}

/** Services whose image reference differs from the one `previous` ran (none without `previous`). */
export function changedImages(next: StackSnapshot, previous: StackSnapshot | undefined): string[] {
  if (!previous) return [];
  const before = new Map(previous.compose.services.map((s) => [s.name, s.image]));
  return next.compose.services
    .filter((s) => s.image && !s.build && before.get(s.name) !== s.image)
    .map((s) => s.name);
}

/**
 * The plan with its image operations: builds at the top, per target what it will pull. A stack
 * whose images cannot be planned is broken (its targets skip), and the plan is not ok: the stack
 * was to deploy.
 */
export function withImages(plan: Plan, images: ImagePlan): Plan {
  if (images.builds.length === 0 && images.problems.length === 0) return plan;
  const problems = [...plan.problems, ...images.problems];
  const ops = new Map(images.targets.map((t) => [`${t.stack}\0${t.host}`, t]));
  const stacks = plan.stacks.map((s) => {
    const errors = images.stackErrors.get(s.name);
    const withOps = {
      ...s,
      targets: s.targets.map((t) => {
        const o = ops.get(`${s.name}\0${t.host}`);
        if (!o) return t;
        const list = [...o.login.map((r) => `login ${r}`), ...o.pull.map((i) => `pull ${i}`)];
        return list.length ? { ...t, imageOps: list } : t;
      }),
    };
    return errors ? asBroken(withOps, errors) : withOps;
  });
  return {
    ...plan,
    ok: plan.ok && !images.problems.some((p) => p.severity === "error"),
    problems,
    builds: images.builds.map((b) => ({
      stack: b.stack,
      service: b.service,
      builder: b.builder,
      image: b.image,
      action: b.reuse ? "reuse" : "build",
      reason: b.reuse
        ? `build inputs unchanged since ${short(b.reuse.commit)}`
        : b.registry
          ? `build on ${b.builder}, push to ${b.registry}`
          : `build on ${b.builder}, kept there (no registry)`,
    })),
    stacks,
    summary: summarize(stacks),
  };
}
