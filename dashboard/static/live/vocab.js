// The words of the page from the one vocabulary the server sends (CFG.vocab, built by
// dashboard/vocab.py page_vocabulary()): marker types with their keys, consent purposes, roles.
import { CFG } from "./config.js";

const V = CFG.vocab;

// [type, key] of every marker that has a button and a key ("note" has its own field).
export const MARKER_KEYS = V.marker_types.filter((m) => m.key).map((m) => [m.id, m.key]);

const SHORT = Object.assign(Object.fromEntries(V.marker_types.map((m) => [m.id, m.short])), V.privacy);
const LABEL = Object.fromEntries(V.marker_types.map((m) => [m.id, m.label]));

export const shortLabel = (type) => SHORT[type] || type;
export const markerLabel = (type) => LABEL[type] || SHORT[type] || type;

// The consents whose absence changes what happens during the session, with what does not
// happen without each (the others, review and research, concern what comes after).
export const LIVE_PURPOSES = ["live_display", "storage", "synchrony"];
const WITHOUT = Object.fromEntries(V.consent_purposes.map((p) => [p.id, p.without_live]));
export const withoutLive = (purpose) => WITHOUT[purpose] || purpose;

// Patient first, then therapist (the vocabulary's order), then anyone else.
const ROLE_ORDER = Object.fromEntries(V.roles.map((r, i) => [r.id, i]));
export const roleRank = (role) => ROLE_ORDER[role] ?? 9;
