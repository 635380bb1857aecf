/* dropper.h — an export job that drops files into a folder over time, the
 * way the Quảng Nam land office and the commune civil-status software hand
 * their exports over: each file is written under a hidden temporary name
 * (.NAME.part) and renamed when complete, so a folder watcher never sees
 * half a file. One thread per dropper; files go out in queue order, one
 * every interval_ms (the first at once).
 *
 * Faults (fault.h), drawn per file:
 *   error, cut  the file is published truncated (the export crashed after
 *               writing part of it); the complete file replaces it later,
 *               under the same name
 *   drop        the export dies half-way: .NAME.part is left behind, not
 *               renamed; the file is written again later
 *   slow        the file comes delay_ms late */
#ifndef LGSP_SIM_DROPPER_H
#define LGSP_SIM_DROPPER_H

#include <stdbool.h>
#include <stddef.h>

#include "fault.h"
#include "util.h"

typedef struct dropper dropper_t;

/* Creates dir (mkdir -p). Returns NULL with err. */
dropper_t *dropper_new(const char *who, const char *dir, long interval_ms, fault_t *fault,
                       char *err, size_t errsz);
/* Queues a copy of the file src under name. */
void dropper_add_file(dropper_t *self, const char *name, const char *src);
/* Queues bytes (taken: malloc'd) under name. */
void dropper_add_bytes(dropper_t *self, const char *name, char *bytes, size_t len);
void dropper_start(dropper_t *self);
void dropper_pause(dropper_t *self, bool paused);
/* Appends {"dir":...,"dropped":N,"queued":N,"paused":b,"last":"..."} */
void dropper_status(dropper_t *self, sbuf_t *json);
const char *dropper_dir(const dropper_t *self);
void dropper_destroy(dropper_t **self_p);

#endif
