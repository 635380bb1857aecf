/* lgsp_review.h — `lgsp review-user`: the reviewers of lgspd's review page
 * (lgsp_review.c; the file's format is reviewusers.h). */
#ifndef LGSP_LGSP_REVIEW_H
#define LGSP_LGSP_REVIEW_H

#include <stdio.h>

int  lgsp_review_user_main(int argc, char **argv);
void lgsp_review_user_usage(FILE *out);

#endif
