#!/usr/bin/env bash
# pg-dn-land.sh — the Đà Nẵng land registry (Văn phòng đăng ký đất đai Đà Nẵng)
# as a real PostgreSQL database, in a folder of its own, on 127.0.0.1 only,
# run by a non-root user. Part of lgsp-sim (docs/simulators.md, "dn-land").
#
#   pg-dn-land.sh start  --dir DIR --port PORT --data VIEW_DIR [--password PW] [--ref REF] [--seed N] [--keep]
#   pg-dn-land.sh stop   --dir DIR
#   pg-dn-land.sh status --dir DIR
#   pg-dn-land.sh change --dir DIR [--n N]          N changes (sales, splits, new ID papers); prints JSON
#   pg-dn-land.sh fail   --dir DIR --mode none|error|slow|drop [--delay-ms D]
#   pg-dn-land.sh psql   --dir DIR [psql args...]    a superuser psql on the socket
#
# start installs PostgreSQL when it is missing (apt-get install -y postgresql
# postgresql-client), creates a cluster with initdb in DIR/data (a fresh one
# unless --keep), starts it on 127.0.0.1:PORT, creates the database dn_land
# with the tables thua_dat (parcels), chu_su_dung (owners) and giay_chung_nhan
# (certificates), each with updated_at, loads VIEW_DIR/{thua_dat,chu_su_dung,
# giay_chung_nhan}.csv (lgsp-gen's dn-land view) with COPY, and creates the
# read-only role lgsp_reader (password PW) for the integration.
#
# Exit codes: 0 ok, 1 failure, 2 usage, 3 PostgreSQL is not installed and
# cannot be installed (the tests skip then).
set -euo pipefail

PROG=pg-dn-land.sh
MARK=.lgsp-sim-dn-land
DB=dn_land

die()  { echo "$PROG: $*" >&2; exit 1; }
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
DIR="" PORT="" DATA="" PW="dn-land-sim-pass" REF="" SEED=1 KEEP=0 N=1 MODE="" DELAY=5000
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --password) PW=$2; shift 2 ;;
    --ref) REF=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --n) N=$2; shift 2 ;;
    --mode) MODE=$2; shift 2 ;;
    --delay-ms) DELAY=$2; shift 2 ;;
    --) shift; break ;;
    *) if [ "$cmd" = psql ]; then break; fi; echo "$PROG: unknown option $1" >&2; usage ;;
  esac
done
[ -n "$DIR" ] || { echo "$PROG: --dir is required" >&2; usage; }
DIR=$(realpath -m "$DIR")

# ---- PostgreSQL binaries -------------------------------------------------
find_bin() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

install_pg() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  echo "$PROG: installing PostgreSQL (apt-get install -y postgresql postgresql-client)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2 || true
  $sudo apt-get install -y -qq --no-install-recommends postgresql postgresql-client >&2 || return 1
}

BIN=$(find_bin || true)
if [ -z "$BIN" ] && [ "$cmd" = start ]; then
  install_pg || { echo "$PROG: PostgreSQL is not installed and cannot be installed here" >&2; exit 3; }
  BIN=$(find_bin || true)
fi
[ -n "$BIN" ] || { echo "$PROG: PostgreSQL is not installed (apt-get install -y postgresql)" >&2; exit 3; }
PSQL=$BIN/psql
[ -x "$PSQL" ] || PSQL=$(command -v psql || true)
[ -n "$PSQL" ] || { echo "$PROG: psql is missing (apt-get install -y postgresql-client)" >&2; exit 3; }

# ---- who runs the server ---------------------------------------------------
# PostgreSQL refuses to run as root: as root we use the 'postgres' user of
# the Debian package (or create 'lgspsim'); otherwise the current user.
if [ "$(id -u)" -eq 0 ]; then
  if id -u postgres >/dev/null 2>&1; then RUNUSER=postgres
  else
    id -u lgspsim >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin lgspsim
    RUNUSER=lgspsim
  fi
  as_user() { runuser -u "$RUNUSER" -- "$@"; }
else
  RUNUSER=$(id -un)
  as_user() { "$@"; }
fi

PGDATA=$DIR/data
SOCK=$DIR/sock
LOG=$DIR/postgres.log
ENVF=$DIR/sim.env

load_env() {
  [ -f "$ENVF" ] || die "$DIR is not a running dn-land database (no $ENVF); use start"
  # shellcheck disable=SC1090
  . "$ENVF"
}

# psql as the superuser over the Unix socket of the cluster
su_psql() { as_user "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }

is_running() { [ -f "$PGDATA/postmaster.pid" ] && as_user "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

# ---- start ----------------------------------------------------------------
do_start() {
  [ -n "$PORT" ] || die "--port is required"
  [ -n "$DATA" ] || die "--data is required (lgsp-gen's dn-land folder)"
  local f
  for f in thua_dat chu_su_dung giay_chung_nhan; do
    [ -r "$DATA/$f.csv" ] || die "$DATA/$f.csv: missing (run lgsp-gen first)"
  done
  if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && [ ! -e "$DIR/$MARK" ]; then
    die "$DIR exists and is not a dn-land folder (no $MARK): refusing to touch it"
  fi
  mkdir -p "$DIR"
  touch "$DIR/$MARK"
  if [ -f "$ENVF" ]; then
    # a previous run: stop it first
    ( load_env; is_running && as_user "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null ) || true
  fi
  if [ "$KEEP" = 0 ]; then rm -rf "$PGDATA" "$SOCK" "$LOG"; fi
  mkdir -p "$SOCK"
  chmod 0755 "$DIR"
  chown "$RUNUSER" "$DIR" "$SOCK" 2>/dev/null || true
  chmod 0700 "$SOCK"
  : > "$LOG"; chown "$RUNUSER" "$LOG" 2>/dev/null || true
  as_user test -w "$DIR" || die "$RUNUSER cannot write $DIR (a parent folder is closed to it: chmod o+x the parents, or choose another --dir)"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_user "$BIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    # only the loopback interface and the folder's own socket
    cat >>"$PGDATA/postgresql.conf" <<EOF
# lgsp-sim dn-land
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
timezone = 'Asia/Ho_Chi_Minh'
log_timezone = 'Asia/Ho_Chi_Minh'
max_connections = 50
shared_buffers = 64MB
# a simulator whose data lgsp-gen can make again: no need to wait for the disk
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    cat >"$PGDATA/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
EOF
  fi
  cat >"$ENVF" <<EOF
PORT=$PORT
PW='$PW'
SEED=$SEED
RUNUSER=$RUNUSER
EOF
  as_user "$BIN/pg_ctl" -D "$PGDATA" -l "$LOG" -o "-p $PORT" -w -t 60 start >/dev/null \
    || { tail -n 20 "$LOG" >&2; die "PostgreSQL did not start (port $PORT busy?)"; }
  if [ "$KEEP" = 1 ] && su_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
    echo "postgresql://lgsp_reader@127.0.0.1:$PORT/$DB"
    return 0
  fi
  su_psql -d postgres -c "CREATE DATABASE $DB"
  su_psql -d "$DB" <<'SQL'
-- Sổ địa chính điện tử, Văn phòng đăng ký đất đai thành phố Đà Nẵng (simulated)
CREATE TABLE thua_dat (
    id          bigint PRIMARY KEY,
    ma_xa       varchar(5)   NOT NULL,          -- pre-2025 commune: the cadastral key
    ma_xa_moi   varchar(5),                     -- 2025 commune, rows changed since 2025-07-01
    so_to       integer      NOT NULL,          -- map sheet
    so_thua     integer      NOT NULL,          -- parcel number on the sheet
    dien_tich   numeric(12,1) NOT NULL,         -- m2
    loai_dat    varchar(16)  NOT NULL,          -- ODT, ONT, LUC, ...
    dia_chi     text,
    updated_at  timestamptz  NOT NULL
);
CREATE TABLE chu_su_dung (
    id            bigint PRIMARY KEY,
    thua_dat_id   bigint      NOT NULL REFERENCES thua_dat (id),
    ho_ten        text        NOT NULL,
    ngay_sinh     date,
    gioi_tinh     varchar(8),
    loai_giay_to  varchar(8),                   -- CCCD / CMND
    so_giay_to    varchar(16),
    dia_chi       text,
    updated_at    timestamptz NOT NULL
);
CREATE TABLE giay_chung_nhan (
    id            bigint PRIMARY KEY,
    thua_dat_id   bigint      NOT NULL REFERENCES thua_dat (id),
    so_phat_hanh  varchar(16) NOT NULL,         -- seri, e.g. AI 821557
    so_vao_so     varchar(16),                  -- 00123/QSDĐ, H00123, CH 00123
    ngay_cap      date,
    updated_at    timestamptz NOT NULL
);
COMMENT ON TABLE thua_dat IS 'Thửa đất (parcels)';
COMMENT ON TABLE chu_su_dung IS 'Chủ sử dụng (owners of a parcel)';
COMMENT ON TABLE giay_chung_nhan IS 'Giấy chứng nhận quyền sử dụng đất (certificates); the current one of a parcel has the latest ngay_cap';
CREATE SCHEMA sim;     -- the simulator's own state; not visible to lgsp_reader
CREATE TABLE sim.state (k text PRIMARY KEY, v bigint NOT NULL);
CREATE TABLE sim.mapping (
    old_province_code text, old_province_name text, old_district_code text, old_district_name text,
    old_commune_code text, old_commune_name text, new_province_code text, new_commune_code text,
    new_commune_name text, merge_type text, n_new_units_for_old text, resolution text,
    llm_confidence text, citation text, check_1659 text, note text);
SQL
  for f in thua_dat chu_su_dung giay_chung_nhan; do
    su_psql -d "$DB" -c "COPY $f FROM STDIN WITH (FORMAT csv, HEADER true)" <"$DATA/$f.csv" \
      || die "loading $DATA/$f.csv failed"
  done
  if [ -n "$REF" ] && [ -r "$REF/admin/mapping_2025.csv" ]; then
    su_psql -d "$DB" -c "COPY sim.mapping FROM STDIN WITH (FORMAT csv, HEADER true)" <"$REF/admin/mapping_2025.csv"
  fi
  su_psql -d "$DB" -v pw="$PW" -v seed="$SEED" <<'SQL'
CREATE INDEX thua_dat_updated_at ON thua_dat (updated_at, id);
CREATE INDEX chu_su_dung_updated_at ON chu_su_dung (updated_at, id);
CREATE INDEX chu_su_dung_thua_dat ON chu_su_dung (thua_dat_id);
CREATE INDEX giay_chung_nhan_updated_at ON giay_chung_nhan (updated_at, id);
CREATE INDEX giay_chung_nhan_thua_dat ON giay_chung_nhan (thua_dat_id);
CREATE ROLE lgsp_reader LOGIN PASSWORD :'pw';
GRANT CONNECT ON DATABASE dn_land TO lgsp_reader;
GRANT USAGE ON SCHEMA public TO lgsp_reader;
GRANT SELECT ON thua_dat, chu_su_dung, giay_chung_nhan TO lgsp_reader;
INSERT INTO sim.state VALUES ('seed', :seed), ('step', 0),
  ('clock', (SELECT extract(epoch FROM greatest(
      (SELECT max(updated_at) FROM thua_dat), (SELECT max(updated_at) FROM chu_su_dung),
      (SELECT max(updated_at) FROM giay_chung_nhan), '2025-09-30 17:00:00+07'::timestamptz)))::bigint);

-- A deterministic pseudo-random number in [0, n) from the seed and a counter.
CREATE FUNCTION sim.rnd(k bigint, n bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN n <= 0 THEN 0 ELSE
    (abs(('x' || substr(md5((SELECT v FROM sim.state WHERE k = 'seed')::text || ':' || k::text), 1, 15))::bit(60)::bigint) % n) END
$$;

-- The 2025 commune of a pre-2025 one (the first, for Hòa Liên).
CREATE FUNCTION sim.new_commune(old text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT new_commune_code FROM sim.mapping WHERE old_commune_code = old ORDER BY new_commune_code LIMIT 1),
    (SELECT ma_xa_moi FROM thua_dat WHERE ma_xa = old AND ma_xa_moi IS NOT NULL LIMIT 1),
    old)
$$;

-- n changes: sales (60%), splits of a parcel (25%), owners' new ID papers (15%).
-- Every changed row gets a later updated_at; returns one row per change.
CREATE FUNCTION sim.change(n integer)
RETURNS TABLE (kind text, thua_dat_id bigint, updated_at timestamptz) LANGUAGE plpgsql AS $$
DECLARE
  step bigint; clk bigint; ts timestamptz; d bigint; p record; q record; o record;
  maxp bigint; maxo bigint; maxc bigint; nid bigint; k bigint; i integer; tries integer;
BEGIN
  SELECT v INTO step FROM sim.state WHERE sim.state.k = 'step';
  SELECT v INTO clk FROM sim.state WHERE sim.state.k = 'clock';
  FOR i IN 1 .. n LOOP
    step := step + 1;
    clk := clk + 1 + sim.rnd(step * 10 + 1, 180);
    ts := to_timestamp(clk);
    SELECT max(id) INTO maxp FROM thua_dat;
    SELECT max(id) INTO maxo FROM chu_su_dung;
    SELECT coalesce(max(id), 0) INTO maxc FROM giay_chung_nhan;
    d := sim.rnd(step * 10 + 2, 100);
    k := step * 1000;
    IF d < 60 THEN
      -- a sale: the single owner is replaced by the buyer (an owner of another parcel),
      -- a new certificate is issued
      tries := 0;
      LOOP
        tries := tries + 1; k := k + 1;
        SELECT * INTO p FROM thua_dat WHERE id = 1 + sim.rnd(k, maxp);
        EXIT WHEN p.id IS NOT NULL AND (SELECT count(*) FROM chu_su_dung c WHERE c.thua_dat_id = p.id) = 1;
        EXIT WHEN tries > 50;
      END LOOP;
      CONTINUE WHEN p.id IS NULL OR tries > 50;
      SELECT * INTO q FROM chu_su_dung WHERE id = 1 + sim.rnd(k + 500, maxo);
      CONTINUE WHEN q.id IS NULL;
      UPDATE chu_su_dung c SET ho_ten = q.ho_ten, ngay_sinh = q.ngay_sinh, gioi_tinh = q.gioi_tinh,
             loai_giay_to = q.loai_giay_to, so_giay_to = q.so_giay_to, dia_chi = q.dia_chi,
             updated_at = ts
       WHERE c.thua_dat_id = p.id;
      UPDATE thua_dat t SET ma_xa_moi = sim.new_commune(t.ma_xa), updated_at = ts WHERE t.id = p.id;
      INSERT INTO giay_chung_nhan VALUES (maxc + 1, p.id,
             chr(66 + (sim.rnd(k + 600, 5))::int) || chr(65 + (sim.rnd(k + 601, 26))::int) || ' '
               || lpad(sim.rnd(k + 602, 1000000)::text, 6, '0'),
             'CS ' || lpad((sim.rnd(k + 603, 99999) + 1)::text, 5, '0'),
             ts::date, ts);
      kind := 'sale'; thua_dat_id := p.id; updated_at := ts; RETURN NEXT;
    ELSIF d < 85 THEN
      -- a split (tách thửa): half the area becomes a new parcel of the same owners
      SELECT * INTO p FROM thua_dat WHERE id = 1 + sim.rnd(k + 1, maxp);
      CONTINUE WHEN p.id IS NULL OR p.dien_tich < 60;
      nid := maxp + 1;
      UPDATE thua_dat t SET dien_tich = round(p.dien_tich / 2, 1), ma_xa_moi = sim.new_commune(t.ma_xa),
             updated_at = ts WHERE t.id = p.id;
      INSERT INTO thua_dat VALUES (nid, p.ma_xa, sim.new_commune(p.ma_xa), p.so_to,
             (SELECT max(t.so_thua) + 1 FROM thua_dat t WHERE t.ma_xa = p.ma_xa AND t.so_to = p.so_to),
             p.dien_tich - round(p.dien_tich / 2, 1), p.loai_dat, p.dia_chi, ts);
      INSERT INTO chu_su_dung
        SELECT maxo + row_number() OVER (ORDER BY c.id), nid, c.ho_ten, c.ngay_sinh, c.gioi_tinh,
               c.loai_giay_to, c.so_giay_to, c.dia_chi, ts
          FROM chu_su_dung c WHERE c.thua_dat_id = p.id;
      kind := 'split'; thua_dat_id := nid; updated_at := ts; RETURN NEXT;
    ELSE
      -- an owner shows the new personal ID instead of the old CMND
      tries := 0;
      LOOP
        tries := tries + 1; k := k + 1;
        SELECT * INTO o FROM chu_su_dung WHERE id = 1 + sim.rnd(k, maxo);
        EXIT WHEN o.id IS NOT NULL AND o.loai_giay_to = 'CMND' AND o.ngay_sinh IS NOT NULL;
        EXIT WHEN tries > 50;
      END LOOP;
      CONTINUE WHEN o.id IS NULL OR tries > 50;
      UPDATE chu_su_dung c SET loai_giay_to = 'CCCD',
             so_giay_to = '048'
               || ((CASE WHEN extract(year FROM o.ngay_sinh) >= 2000 THEN 2 ELSE 0 END)
                   + (CASE WHEN o.gioi_tinh = 'Nữ' THEN 1 ELSE 0 END))::text
               || lpad((extract(year FROM o.ngay_sinh)::int % 100)::text, 2, '0')
               || lpad(sim.rnd(k + 700, 1000000)::text, 6, '0'),
             updated_at = ts
       WHERE c.id = o.id;
      kind := 'new_id'; thua_dat_id := o.thua_dat_id; updated_at := ts; RETURN NEXT;
    END IF;
  END LOOP;
  UPDATE sim.state SET v = step WHERE sim.state.k = 'step';
  UPDATE sim.state SET v = clk WHERE sim.state.k = 'clock';
END
$$;
ANALYZE;
SQL
  echo "postgresql://lgsp_reader@127.0.0.1:$PORT/$DB"
}

# ---- the other commands --------------------------------------------------
do_stop() {
  [ -f "$ENVF" ] || return 0
  load_env
  do_fail_none_quiet || true
  if is_running; then
    as_user "$BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed"
  fi
}

do_status() {
  load_env
  if is_running; then
    # never wait behind a "slow" lock
    su_psql -d "$DB" -tA -F ' ' -c "SET lock_timeout = '200ms'" -c "SELECT 'running port=$PORT parcels=' || (SELECT count(*) FROM thua_dat)
      || ' owners=' || (SELECT count(*) FROM chu_su_dung) || ' certificates=' || (SELECT count(*) FROM giay_chung_nhan)
      || ' changes=' || (SELECT v FROM sim.state WHERE k = 'step')" 2>/dev/null \
      || echo "running port=$PORT (tables locked)"
  else
    echo "stopped"; return 1
  fi
}

do_change() {
  load_env
  [[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || die "--n: a positive integer"
  su_psql -d "$DB" -tA -c "SELECT json_build_object('changes', coalesce(json_agg(json_build_object(
      'kind', kind, 'thua_dat_id', thua_dat_id, 'updated_at', to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF:00'))), '[]'),
      'applied', count(*)) FROM sim.change($N)"
}

SLOWPID=$DIR/slow.pid
do_fail_none_quiet() {
  if [ -f "$SLOWPID" ]; then
    kill "$(cat "$SLOWPID")" 2>/dev/null || true
    rm -f "$SLOWPID"
    su_psql -d "$DB" -tAc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lgsp-sim-slow'" >/dev/null 2>&1 || true
  fi
  su_psql -d "$DB" -c "GRANT SELECT ON thua_dat, chu_su_dung, giay_chung_nhan TO lgsp_reader" >/dev/null 2>&1
}

do_fail() {
  load_env
  case "$MODE" in
    none)
      do_fail_none_quiet ;;
    error)
      # queries fail: ERROR: permission denied for table thua_dat (SQLSTATE 42501)
      su_psql -d "$DB" -c "REVOKE SELECT ON thua_dat, chu_su_dung, giay_chung_nhan FROM lgsp_reader" ;;
    slow)
      # a maintenance job holds the tables: readers wait DELAY ms
      [[ "$DELAY" =~ ^[0-9]+$ ]] || die "--delay-ms: an integer"
      do_fail_none_quiet
      local secs
      secs=$(awk -v d="$DELAY" 'BEGIN { printf "%.3f", d / 1000 }')
      ( PGAPPNAME=lgsp-sim-slow su_psql -d "$DB" -c "BEGIN; LOCK TABLE thua_dat, chu_su_dung, giay_chung_nhan IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($secs); COMMIT;" >/dev/null 2>&1 & echo $! >"$SLOWPID" )
      # wait until the lock is held, so that the next query is slowed for sure
      local i
      for i in $(seq 1 50); do
        if su_psql -d "$DB" -tAc "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'lgsp-sim-slow' AND l.mode = 'AccessExclusiveLock' AND l.granted" | grep -q '^[1-9]'; then
          break
        fi
        sleep 0.1
      done ;;
    drop)
      # the reader's open connections are cut (FATAL: terminating connection)
      su_psql -d "$DB" -tAc "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'lgsp_reader'" ;;
    *) die "--mode: none, error, slow or drop" ;;
  esac
}

case "$cmd" in
  start)  do_start ;;
  stop)   do_stop ;;
  status) do_status ;;
  change) do_change ;;
  fail)   do_fail ;;
  psql)   load_env; su_psql -d "$DB" "$@" ;;
  *)      usage ;;
esac
