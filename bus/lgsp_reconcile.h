/* lgsp_reconcile.h — `lgsp reconcile`: a reconciliation job of the merger
 * task force (two sides of sources through the entity-resolution engine;
 * reports in JSON, CSV and one offline HTML file). lgsp_reconcile.c. */
#ifndef LGSP_LGSP_RECONCILE_H
#define LGSP_LGSP_RECONCILE_H

#include <stdio.h>

int  lgsp_reconcile_main(int argc, char **argv);
void lgsp_reconcile_usage(FILE *out);

#endif
