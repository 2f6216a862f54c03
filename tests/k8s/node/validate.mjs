// Validates Kubernetes documents offline with kubernetes-models' compiled
// OpenAPI schemas, and reports keys the schemas do not know.
//
// Usage: node validate.mjs DOCS.json   (a JSON array of documents)
// Prints a JSON array with one entry per document: {kind, name, errors: [...]}.
//
// kubernetes-models' validators let unknown keys through. To find them, each
// document is wrapped in proxies that record which keys the schema's validator
// reads: a validator reads every property its schema declares (and every key
// of a map-typed field), so a key present in the document that it never read
// is unknown to the schema.
import { readFileSync } from "node:fs";

// kubernetes-models/v1/Service, kubernetes-models/apps/v1/StatefulSet, ...
function modulePath(apiVersion, kind) {
    return `kubernetes-models/${apiVersion}/${kind}`;
}

function track(value, path, seen) {
    if (value === null || typeof value !== "object") return value;
    const reads = new Set();
    seen.push({ path, value, reads });
    const cache = new Map();
    return new Proxy(value, {
        get(target, key, receiver) {
            if (typeof key === "string") reads.add(key);
            const v = Reflect.get(target, key, receiver);
            if (typeof key !== "string" || v === null || typeof v !== "object") return v;
            if (!cache.has(key)) cache.set(key, track(v, `${path}/${key}`, seen));
            return cache.get(key);
        },
    });
}

function unknownKeys(seen) {
    const out = [];
    for (const { path, value, reads } of seen) {
        if (Array.isArray(value)) continue;
        for (const key of Object.keys(value)) {
            if (!reads.has(key)) out.push(`${path}/${key}: unknown key`);
        }
    }
    return out;
}

const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = [];
for (const doc of docs) {
    const kind = doc?.kind, apiVersion = doc?.apiVersion;
    const name = doc?.metadata?.name;
    const errors = [];
    let Model;
    try {
        Model = (await import(modulePath(apiVersion, kind)))[kind];
    } catch (e) {
        errors.push(`no schema for ${apiVersion} ${kind}`);
    }
    if (Model) {
        try {
            new Model(doc).validate();
        } catch (e) {
            errors.push(String(e.message || e));
        }
        // Top level: the model itself owns apiVersion, kind, metadata, spec, ...
        const seen = [];
        const proxied = track(doc, "", seen);
        try {
            Model.prototype.validate.call(proxied);
        } catch (e) {
            /* already reported above */
        }
        errors.push(...unknownKeys(seen));
    }
    results.push({ kind, name, errors });
}
process.stdout.write(JSON.stringify(results, null, 1) + "\n");
