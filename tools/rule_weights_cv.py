#!/usr/bin/env python3
"""Would learned rule weights beat the hand-set ones? A measurement, not a training step.

Reads the matched rules of every labelled item (the output of
`cargo run --example topic_features -- config/topics/us-russia-talks.toml FILES…`, one line per
item: file, id, label, hand score, rule|rule|…) and compares, per file and pooled:

- the topic as shipped (hand-set weights, threshold 0.5);
- a logistic regression over the same rule hits (one binary feature per rule, L2-regularised,
  batch gradient descent), cross-validated in K folds split by sha256(id), so every item is
  scored by a model that never saw it.

Plain Python 3, no dependencies; deterministic. Usage:
    cargo run --example topic_features -- config/topics/us-russia-talks.toml \\
        ../shared/datasets/relevance/{dev,dev2,dev-ru,dev-2025}.jsonl > /tmp/features.tsv
    python3 tools/rule_weights_cv.py /tmp/features.tsv [K]
"""
import hashlib
import math
import sys


def load(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8")]
    names = sorted({rule for row in rows for rule in (row[4].split("|") if row[4] else [])})
    index = {name: i for i, name in enumerate(names)}
    items = []
    for file, item_id, label, score, rules in rows:
        features = [index[rule] for rule in (rules.split("|") if rules else [])]
        items.append((file, item_id, label == "true", float(score), features))
    return names, items


def train(items, n_features, l2=0.1, iterations=2500, rate=1.0):
    weights, bias = [0.0] * n_features, 0.0
    n = len(items)
    for _ in range(iterations):
        gradient, gradient_bias = [0.0] * n_features, 0.0
        for _, _, label, _, features in items:
            z = bias + sum(weights[j] for j in features)
            error = 1 / (1 + math.exp(-max(-30.0, min(30.0, z)))) - label
            gradient_bias += error
            for j in features:
                gradient[j] += error
        bias -= rate * gradient_bias / n
        for j in range(n_features):
            weights[j] -= rate * (gradient[j] / n + l2 * weights[j] / n)
    return weights, bias


def figures(pairs):
    tp = sum(1 for predicted, label in pairs if predicted and label)
    fp = sum(1 for predicted, label in pairs if predicted and not label)
    fn = sum(1 for predicted, label in pairs if not predicted and label)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"P {precision:.3f} R {recall:.3f} F1 {f1:.3f} (TP {tp} FP {fp} FN {fn})"


def main():
    path = sys.argv[1]
    folds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    names, items = load(path)
    fold_of = [int(hashlib.sha256(item[1].encode()).hexdigest(), 16) % folds for item in items]
    learned = [False] * len(items)
    for fold in range(folds):
        weights, bias = train([it for it, f in zip(items, fold_of) if f != fold], len(names))
        for i, item in enumerate(items):
            if fold_of[i] == fold:
                learned[i] = bias + sum(weights[j] for j in item[4]) >= 0.0
    files = sorted({item[0] for item in items})
    for file in files + [None]:
        chosen = [i for i, item in enumerate(items) if file is None or item[0] == file]
        hand = figures([(items[i][3] >= 0.5, items[i][2]) for i in chosen])
        cross = figures([(learned[i], items[i][2]) for i in chosen])
        print(f"{file or 'pooled':16} hand-set {hand} | learned, {folds}-fold {cross}")


if __name__ == "__main__":
    main()
