/* api.h - tankd's API on its unix socket: framing, versions, ops (shared with tankctl). */
#ifndef TANK_API_H
#define TANK_API_H

/*
 * Transport: lib/ipc frames (4-byte big-endian length + JSON, at most IPC_FRAME_MAX bytes) on
 * a unix stream socket; the peer must be root or in socket_group ("tank"; primary or
 * supplementary group: SO_PEERCRED, SO_PEERGROUPS). One request,
 * one reply, in order; a connection may carry many.
 *
 * Request:  {"version": 1, "op": "<op>", ...}   (a request without "version" is "invalid")
 * Reply:    {"version": 1, "ok": true, ...}
 *        or {"version": 1, "ok": false, "error": {"code": "<code>", "message": "...",
 *            "path": "<spec path>" (when there is one), "details": [{"path","message"}...]}}
 *
 * Ops:
 *   apply   {"spec": {...}}                 -> {"pod": "web", "result": "created|configured|unchanged"}
 *           (spec at most SPEC_DOC_MAX bytes as compact JSON; the same spec in other units,
 *           e.g. cpu "0.5" for "500m", is "unchanged")
 *   get     {"name": "web"} (optional)      -> {"pod": {...}} or {"pods": [{...}]}
 *           (a pod whose store record is damaged has status.phase "damaged" and "error")
 *   delete  {"name": "web"}                 -> {"result": "deleted|not found"}
 *   exec    {"pod","container"?,"args":[...],"env":["K=V"]?,"cwd"?} + fds 0,1,2 of the caller
 *                                           -> {"exit_code": N} or {"signal": N}
 *   traffic {"name": "web"} (optional)      -> {"pods": [{"name","uid","slot","ingress":
 *                                               {"packets","bytes"},"egress":{...}}]}
 *   info                                    -> {"version","bpf_attach","cgroups","store",...}
 *
 * Error codes: "invalid" (bad request or spec; details list every problem), "not_found",
 * "unsupported" (the feature is not built yet), "internal", "version" (unknown version),
 * "permission" (the peer is neither root nor in socket_group; sent, then the connection is
 * closed).
 */
#define TANK_API_VERSION 1
#define TANK_DEFAULT_SOCKET "/run/tank/tankd.sock"

#endif
