# Sourced by every script (before its settings) and every stage body: the cgankd command and helpers.
# Needs bash >= 4.4 (name references, mapfile -d).
set -euo pipefail
CGANKD="${CGANKD:-$ROOT/.venv/bin/cgankd}"
[ -x "$CGANKD" ] || CGANKD=cgankd
banner() { echo; echo "== $*"; }
die() { echo "error: $*" >&2; exit 2; }

# split_words ARRAY TEXT WHAT: the words of TEXT into ARRAY, split the way a shell splits a command
# line (blanks separate words; 'single quotes', "double quotes" and \ keep them together), but
# nothing in TEXT is expanded or run. This is how EXTRA and the other flag settings reach cgankd:
#   EXTRA="--lr 0.02 --set 'cdr_rs={\"dr\": {\"epochs\": 5}}'"  ->  --lr  0.02  --set  cdr_rs={"dr": {"epochs": 5}}
# (xargs's rules: inside "double quotes" a backslash is not special, so quote JSON with single quotes.)
split_words() {
    local -n _words="$1"
    _words=()
    [ -n "${2//[[:space:]]/}" ] || return 0
    printf '%s' "$2" | xargs printf '' 2>/dev/null ||
        die "$3: unbalanced quotes in: $2"
    mapfile -d '' _words < <(printf '%s' "$2" | xargs printf '%s\0')
}

# check_ints NAME...: each of these settings is empty or a whole number (they go into JSON settings).
check_ints() {
    local name
    for name in "$@"; do
        [[ -z "${!name:-}" || "${!name}" =~ ^[0-9]+$ ]] || die "$name=${!name}: expected a whole number"
    done
}

# The fake set's file for the fake-set settings RUNS RHO SUBSAMPLE ADJUST and NFAKE (its size, $1):
# the one place that names it, for make_fake_datasets.sh that writes it and the scripts that read it.
fake_file() {
    echo "$RUNS/fake/fake_${1}_rho${RHO}_${SUBSAMPLE}_adjust-${ADJUST}.h5"
}

# fake_count FAKE.h5: the number of fakes the set holds (read by `cgankd data check`).
fake_count() {
    [ -f "$1" ] || die "missing fake set $1 (make it first: make_fake_datasets.sh, or cgankd demo for the demo's)"
    local n
    n=$("$CGANKD" data check "$1" | awk '$1 == "fake" { print $2 }')
    [[ "$n" =~ ^[0-9]+$ ]] || die "$1: cannot read how many fakes it holds"
    echo "$n"
}

# method_args ARRAY METHOD: the flags a KD method needs beyond --teacher/--distill: its own first
# stage's length (INIT_EPOCHS for abound factor fsp; SSKD_T_EPOCHS for sskd, which ignore --epochs),
# takd's assistant (--ta TA_CKPT when set, else --ta-arch TA_ARCH), then METHOD_FLAGS (split as EXTRA).
method_args() {
    local -n _args="$1"
    check_ints INIT_EPOCHS SSKD_T_EPOCHS
    _args=(--teacher "$TEACHER_CKPT" --distill "$2")
    case "$2" in
        abound|factor|fsp) [ -z "${INIT_EPOCHS:-}" ] || _args+=(--distill-set "init_epochs=$INIT_EPOCHS") ;;
        sskd) if [ -n "${SSKD_T_EPOCHS:-}" ]; then
                  # The teacher head's rate drops at half and three quarters of its stage, as in 60 -> 30, 45.
                  local t="$SSKD_T_EPOCHS" m1=$((SSKD_T_EPOCHS / 2)) m2=$((SSKD_T_EPOCHS * 3 / 4)) ms=""
                  [ "$m1" -ge 1 ] && ms="$m1"
                  [ "$m2" -ge 1 ] && [ "$m2" != "$m1" ] && ms="${ms:+$ms,}$m2"
                  _args+=(--distill-set "t_epochs=$t" --distill-set "t_milestones=[$ms]")
              fi ;;
        takd) if [ -n "${TA_CKPT:-}" ]; then _args+=(--ta "$TA_CKPT"); else _args+=(--ta-arch "$TA_ARCH"); fi ;;
    esac
    local more
    split_words more "${METHOD_FLAGS:-}" METHOD_FLAGS
    _args+=("${more[@]}")
}

# schedule_args ARRAY: --epochs / --batch-size when EPOCHS / BATCH_SIZE are set (else the preset's).
schedule_args() {
    local -n _sched="$1"
    _sched=()
    [ -z "${EPOCHS:-}" ] || _sched+=(--epochs "$EPOCHS")
    [ -z "${BATCH_SIZE:-}" ] || _sched+=(--batch-size "$BATCH_SIZE")
}
