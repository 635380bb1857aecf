/* er.h — entity resolution: the engine shared by the batch run (`lgsp
 * dedup`, reconciliation) and the streaming stage of lgspd.
 *
 * The data flows one way:
 *
 *   spec (YAML: fields, comparisons, blocking, model, thresholds)
 *     -> er_data: records read from canonical JSON or any CSV, each field
 *        normalised once (NFC, matching keys, code points, parsed dates)
 *     -> blocking: candidate pairs from several keys, blocks capped
 *     -> comparison vectors: one level per comparison per pair
 *     -> Fellegi-Sunter model: u from random pairs, m (and the share of
 *        matches) by EM over the vectors, term-frequency adjustment
 *     -> scored pairs: match / possible match (review) / non-match
 *     -> clustering that refuses chains, manual decisions applied
 *     -> entities with stable ids (erstore) and golden records.
 *
 * Nothing is hard-wired to one schema: a spec names the fields, where each
 * is read (a JSON pointer, or a CSV column), and how it is compared.
 * docs/entity-resolution.md describes the spec, the model and how to read an
 * explanation. */
#ifndef LGSP_ER_H
#define LGSP_ER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct er_spec er_spec_t;     /* a compiled spec file */
typedef struct er_data er_data_t;     /* records with their normalised fields */
typedef struct er_model er_model_t;   /* m / u probabilities, the prior, term frequencies */
typedef struct er_run er_run_t;       /* one batch run: pairs, scores, clusters */

/* ---- spec ----------------------------------------------------------- */

/* Loads and checks a spec (config/er/<kind>.yaml). Errors are "file:line: what". */
er_spec_t *er_spec_load(const char *path, char *err, size_t errlen);
void er_spec_destroy(er_spec_t **self_p);
const char *er_spec_kind(const er_spec_t *spec);         /* "person" */
size_t er_spec_field_count(const er_spec_t *spec);
const char *er_spec_field_name(const er_spec_t *spec, size_t i);
/* Overrides where field `name` is read from in CSV input ("--column
 * birth_date=DOB"): 0, or -1 for an unknown field. */
int er_spec_set_column(er_spec_t *spec, const char *field, const char *column, const char *date_format);
/* Names the source of every record read ("--source NAME"): CSV rows without
 * a source column take it, and it wins over the spec's record: source:. */
void er_spec_set_source(er_spec_t *spec, const char *name);

/* ---- records -------------------------------------------------------- */

er_data_t *er_data_new(const er_spec_t *spec);
void er_data_destroy(er_data_t **self_p);
/* Adds a record read from JSON (the spec's `from:` pointers, its record id
 * and source). Returns the record's index, or -1 with err ("record id:
 * field: what") when a required value is missing or malformed. */
long er_data_add_json(er_data_t *self, const json_t *rec, char *err, size_t errlen);
/* Reads a whole file: JSON lines (canonical records) or CSV with a header
 * (columns as the spec says; a field's `from:` may be a list of JSON
 * pointers, the first with a value counts). A record id read again
 * replaces the earlier record: the last delivery decides. Bad records are reported through `bad` (the
 * position "file:line" and why) and skipped; returns the number added, or
 * -1 when the file cannot be read. threads > 1 parses JSON in parallel. */
long er_data_load_file(er_data_t *self, const char *path, int threads,
                       void (*bad)(const char *pos, const char *why, void *ctx), void *ctx,
                       char *err, size_t errlen);
/* Adds a record from the JSON er_data_values_json made ({"id", "source",
 * "updated", "values": {field: text}}): what erstore keeps and streaming
 * compares against. Returns the index, or -1 with err. */
long er_data_add_values(er_data_t *self, const json_t *values, char *err, size_t errlen);
/* Forgets every record (keeps the memory): streaming reuses one er_data. */
void er_data_clear(er_data_t *self);
size_t er_data_count(const er_data_t *self);
const char *er_data_id(const er_data_t *self, size_t i);       /* "source:record id" */
const char *er_data_source(const er_data_t *self, size_t i);
/* A field's normalised value as text, or NULL when absent. */
const char *er_data_value(const er_data_t *self, size_t i, size_t field);
/* Record i's values as a JSON object {field: value} (what erstore keeps). */
json_t *er_data_values_json(const er_data_t *self, size_t i);
/* Index of the record with id, or -1. Builds an index on first use. */
long er_data_find(er_data_t *self, const char *id);

/* ---- model ---------------------------------------------------------- */

/* A model with the spec's starting values (m from the spec, u uniform). */
er_model_t *er_model_new(const er_spec_t *spec);
void er_model_destroy(er_model_t **self_p);
/* The prior: the probability that two random records match. */
double er_model_lambda(const er_model_t *self);
/* Term frequencies of the values of `tf` comparisons, counted over data:
 * the batch run does it itself; callers scoring pairs on their own (explain,
 * streaming) call it with the data the pairs come from. */
void er_model_build_tf(er_model_t *m, const er_data_t *d);
/* Parameters as JSON (kept in erstore) and back. */
json_t *er_model_to_json(const er_model_t *self);
er_model_t *er_model_from_json(const er_spec_t *spec, const json_t *j, char *err, size_t errlen);

/* The match-weight waterfall of one pair: the prior, every comparison's
 * level, m, u and weight (log2 m/u, with the term-frequency adjustment
 * when one applies), the total, and the probability and verdict. */
json_t *er_explain(const er_model_t *model, const er_data_t *data, size_t a, size_t b);
/* The same as text lines for a terminal. */
char *er_explain_text(const json_t *explanation);

/* ---- batch ---------------------------------------------------------- */

typedef struct {
    int    threads;            /* worker threads (>= 1) */
    bool   estimate;           /* train the model on this data (EM + u sampling) */
    size_t u_pairs;            /* random pairs for u (0 = the spec's) */
    bool   quiet;
    void (*progress)(const char *stage, double done, void *ctx);  /* may be NULL */
    void  *progress_ctx;
} er_options_t;

/* Manual decisions applied over the model: record ids, LINK or UNLINK. */
typedef struct {
    int kind;                  /* 1 link, 2 unlink (erstore_decision_kind_t) */
    const char *a, *b;
} er_decision_t;

/* Runs blocking, (training), scoring and clustering over data. model is
 * used and, with estimate, trained in place. */
er_run_t *er_run_batch(er_data_t *data, er_model_t *model, const er_decision_t *decisions,
                       size_t ndecisions, const er_options_t *opt, char *err, size_t errlen);
void er_run_destroy(er_run_t **self_p);

typedef struct {
    size_t records;
    size_t candidate_pairs;      /* after blocking, distinct */
    size_t capped_blocks;        /* blocks cut at max_block */
    size_t matches, reviews;     /* pairs at or above each threshold */
    size_t clusters;
    size_t refused_merges;       /* merges refused against chaining */
    size_t em_iterations;
    double seconds_block, seconds_train, seconds_score, seconds_cluster;
} er_stats_t;
const er_stats_t *er_run_stats(const er_run_t *self);
/* Cluster of record i (0..clusters-1), and the members of cluster c. */
uint32_t er_run_cluster_of(const er_run_t *self, size_t i);
const uint32_t *er_run_cluster_of_all(const er_run_t *self);
size_t er_run_cluster_count(const er_run_t *self);
const uint32_t *er_run_members(const er_run_t *self, uint32_t c, size_t *n);
/* The pairs between the review and match thresholds (for a human). */
size_t er_run_review_count(const er_run_t *self);
void er_run_review_pair(const er_run_t *self, size_t k, uint32_t *a, uint32_t *b, double *prob);
/* The distinct candidate pairs and their match weights (term frequencies
 * applied), k in [0, er_run_pair_count). */
size_t er_run_pair_count(const er_run_t *self);
void er_run_pair(const er_run_t *self, size_t k, uint32_t *a, uint32_t *b, double *weight);
/* Whether records a and b were a candidate pair (blocking completeness). */
bool er_run_is_candidate(const er_run_t *self, uint32_t a, uint32_t b);

/* The golden record of cluster c by the spec's survivorship rules: every
 * field {"value", "source", "record"}. */
json_t *er_run_golden(const er_run_t *self, uint32_t c);
/* The same for records mem[0..n) of data (indices; ties: the earlier one):
 * the streaming stage's golden record of one entity. */
json_t *er_golden(const er_data_t *data, const uint32_t *mem, size_t n);
/* The spec's block-size cap and largest cluster (the streaming stage
 * blocks and clusters as the batch run does). */
size_t er_spec_max_block(const er_spec_t *spec);
size_t er_spec_max_cluster(const er_spec_t *spec);

/* ---- helpers for the engine's callers -------------------------------- */

/* Sorts by key (LSD radix sort, four passes of 16 bits): blocking keys,
 * record pairs packed as a << 32 | b. */
typedef struct {
    uint64_t key;
    uint32_t rec;
} er_keyrec_t;
void er_sort_keyrec(er_keyrec_t *a, size_t n);
void er_sort_u64(uint64_t *a, size_t n);

/* An RFC 6901 JSON pointer into j ("/name/full", "/owners/0"), or NULL;
 * "" is j itself. */
const json_t *er_json_pointer(const json_t *j, const char *ptr);

/* The manual decisions of kind in force in the store, as er_run_batch
 * takes them (*v malloc'ed; free with er_decisions_free). 0 or -1. */
struct erstore;
int  er_decisions_from_store(struct erstore *store, const char *kind, er_decision_t **v, size_t *n);
void er_decisions_free(er_decision_t *v, size_t n);

/* ---- streaming (one record at a time, against the store) ------------ */

/* Computes the blocking keys of record i: calls cb once per key (binary,
 * prefixed with the rule's number so keys of different rules never meet). */
void er_block_keys(const er_data_t *data, size_t i,
                   void (*cb)(const void *key, size_t len, void *ctx), void *ctx);
/* Score of one pair under the model: total match weight and probability. */
double er_score(const er_model_t *model, const er_data_t *data, size_t a, size_t b, double *prob);
/* Whether merging the groups A and B (record indices) is allowed: no hard
 * conflict (the spec's cannot_link comparisons) and no chain (every pair
 * at or above the review threshold, the mean at or above match). */
bool er_can_merge(const er_model_t *model, const er_data_t *data, const uint32_t *A, size_t na,
                  const uint32_t *B, size_t nb);
double er_threshold_match(const er_model_t *model);
double er_threshold_review(const er_model_t *model);

#endif
