/** A full commit id (SHA-1 or SHA-256), lowercase: the one test of "is this a commit, not a name". */
export const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
