"""Picks fuzzer finds for the committed corpus, most coverage first, up to a cap.

Reads a libFuzzer merge control file written with
`-set_cover_merge=1 -use_counters=0 -merge_control_file=CTL` (which records every input's
features), keeps every input whose path starts with SEEDS_PREFIX, then greedily picks other
inputs by the number of features they add, smallest first on ties, until CAP inputs are picked
or none adds anything. Prints the picked paths, one a line; a summary goes to stderr.

usage: python3 tools/pick_corpus.py CTL SEEDS_PREFIX CAP
"""

import sys


def main() -> None:
    ctl, seeds_prefix, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lines = open(ctl, encoding="utf-8").read().split("\n")
    n = int(lines[0])
    files = lines[2 : 2 + n]
    features: dict[int, set[int]] = {}
    sizes: dict[int, int] = {}
    for line in lines[2 + n :]:
        if line.startswith("STARTED "):
            parts = line.split()
            sizes[int(parts[1])] = int(parts[2])
        elif line.startswith("FT "):
            parts = line.split()
            features[int(parts[1])] = set(map(int, parts[2:]))
    covered: set[int] = set()
    candidates: dict[int, set[int]] = {}
    for i, path in enumerate(files):
        if path.startswith(seeds_prefix):
            covered |= features.get(i, set())
        else:
            candidates[i] = features.get(i, set())
    total = len(set().union(*features.values())) if features else 0
    seeds_cover = len(covered)
    picked = []
    while len(picked) < cap and candidates:
        best = max(candidates, key=lambda i: (len(candidates[i] - covered), -sizes.get(i, 0)))
        if not candidates[best] - covered:
            break
        covered |= candidates.pop(best)
        picked.append(files[best])
        print(files[best])
    print(
        f"seeds cover {seeds_cover} of {total} features; "
        f"with {len(picked)} picked: {len(covered)}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
