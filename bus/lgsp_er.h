/* lgsp_er.h — `lgsp dedup`, `lgsp explain`, `lgsp decide`: entity
 * resolution from the command line (lgsp_er.c). */
#ifndef LGSP_LGSP_ER_H
#define LGSP_LGSP_ER_H

#include <stdio.h>

int  lgsp_dedup_main(int argc, char **argv);
void lgsp_dedup_usage(FILE *out);
int  lgsp_explain_main(int argc, char **argv);
void lgsp_explain_usage(FILE *out);
int  lgsp_decide_main(int argc, char **argv);
void lgsp_decide_usage(FILE *out);

#endif
