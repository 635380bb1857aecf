/* truth.h — the entity files of the ground truth (truth/persons.tsv,
 * households.tsv, events.tsv, parcels.tsv). */
#ifndef LGSP_SIM_TRUTH_H
#define LGSP_SIM_TRUTH_H

#include "world.h"

/* Returns the number of rows written. */
uint64_t truth_write(const world_t *w, const char *truth_dir);

#endif
