// Query latency of Xapian on a benchmark query file (bench/leaf/make_queries.py),
// in process through the C++ API, so no binding overhead is counted.
//
//   xapian_query DB QUERIES [--mode top10|count] [--repeat R] [--counts] [--cpu-batch]
//
// --cpu-batch reads the thread CPU clock once around each pass over a class
// instead of around each query (as bench_eval --cpu-batch), since on a guest
// where that clock is a slow system call the per-query reads add their own
// cost to every query's figure.
//
// Queries use sgsearch's simple forms: words ANDed, "OR" between words, "-w"
// excludes. Scoring is BM25 with sgsearch's parameters (k1 = 1.2, b = 0.75,
// k2 = 0, k3 = 1). top10: get_mset(0, 10), Xapian's default (estimated
// count). count: get_mset(0, 0, doccount), which makes the count exact.
// Prints one JSON line per query class: latency mean, p50, p99 in
// microseconds, mean thread CPU time and queries/s of one thread, over every query of the class,
// each run R times. --counts prints instead one JSON line per query with its
// exact match count, for checking that the engines agree.
#include <time.h>
#include <xapian.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

// Thread CPU time: what preemption on a shared machine leaves out.
static double cpu_us()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static Xapian::Query parse(const std::string &q)
{
    std::istringstream in(q);
    std::string w;
    std::vector<Xapian::Query> and_parts;
    std::vector<std::string> not_terms;
    std::vector<std::string> or_terms;
    bool or_query = false;
    while (in >> w) {
        if (w == "OR") {
            or_query = true;
            continue;
        }
        if (w[0] == '-')
            not_terms.push_back(w.substr(1));
        else
            or_terms.push_back(w);
    }
    Xapian::Query pos;
    if (or_query)
        pos = Xapian::Query(Xapian::Query::OP_OR, or_terms.begin(), or_terms.end());
    else
        pos = Xapian::Query(Xapian::Query::OP_AND, or_terms.begin(), or_terms.end());
    if (not_terms.empty())
        return pos;
    Xapian::Query neg(Xapian::Query::OP_OR, not_terms.begin(), not_terms.end());
    return Xapian::Query(Xapian::Query::OP_AND_NOT, pos, neg);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s DB QUERIES [--mode top10|count] [--repeat R]\n", argv[0]);
        return 2;
    }
    std::string mode = "top10";
    int repeat = 3;
    bool counts = false;
    bool cpu_batch = false;
    for (int i = 3; i < argc; i++) {
        if (!std::strcmp(argv[i], "--mode") && i + 1 < argc)
            mode = argv[++i];
        else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--counts"))
            counts = true;
        else if (!std::strcmp(argv[i], "--cpu-batch"))
            cpu_batch = true;
        else {
            std::fprintf(stderr, "xapian_query: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (repeat < 1 || (mode != "top10" && mode != "count")) {
        std::fprintf(stderr, "xapian_query: bad --mode or --repeat\n");
        return 2;
    }
    Xapian::Database db(argv[1]);
    Xapian::Enquire enq(db);
    enq.set_weighting_scheme(Xapian::BM25Weight(1.2, 0, 1, 0.75, 0));
    Xapian::doccount all = db.get_doccount();

    std::ifstream f(argv[2]);
    std::string line;
    std::map<std::string, std::vector<Xapian::Query>> classes;
    std::vector<std::string> order;
    while (std::getline(f, line)) {
        size_t tab = line.find('\t');
        if (tab == std::string::npos)
            continue;
        std::string cls = line.substr(0, tab);
        Xapian::Query q = parse(line.substr(tab + 1));
        if (counts) {
            enq.set_query(q);
            std::printf("{\"engine\":\"xapian\",\"class\":\"%s\",\"q\":\"%s\",\"count\":%u}\n",
                        cls.c_str(), line.substr(tab + 1).c_str(),
                        enq.get_mset(0, 0, all).get_matches_estimated());
            continue;
        }
        if (!classes.count(cls))
            order.push_back(cls);
        classes[cls].push_back(q);
    }
    if (counts)
        return 0;
    unsigned long long checksum = 0;
    // One untimed pass over every query warms the page cache and Xapian's own.
    for (const auto &cls : order)
        for (const auto &q : classes[cls]) {
            enq.set_query(q);
            checksum += enq.get_mset(0, 10).size();
        }
    for (const auto &cls : order) {
        std::vector<double> us;
        double cpu = 0;
        for (int r = 0; r < repeat; r++) {
            double b0 = cpu_batch ? cpu_us() : 0;
            for (const auto &q : classes[cls]) {
                double c0 = cpu_batch ? 0 : cpu_us();
                auto t0 = std::chrono::steady_clock::now();
                enq.set_query(q);
                Xapian::MSet m = mode == "count" ? enq.get_mset(0, 0, all) : enq.get_mset(0, 10);
                checksum += m.get_matches_estimated() + m.size();
                auto t1 = std::chrono::steady_clock::now();
                if (!cpu_batch)
                    cpu += cpu_us() - c0;
                us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
            }
            if (cpu_batch)
                cpu += cpu_us() - b0;
        }
        std::sort(us.begin(), us.end());
        double sum = 0;
        for (double v : us)
            sum += v;
        std::printf("{\"engine\":\"xapian\",\"mode\":\"%s\",\"class\":\"%s\",\"queries\":%zu,"
                    "\"mean_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"cpu_us\":%.1f,\"qps\":%.0f}\n",
                    mode.c_str(), cls.c_str(), us.size(), sum / us.size(), us[us.size() / 2],
                    us[std::min(us.size() - 1, us.size() * 99 / 100)], cpu / us.size(),
                    1e6 * us.size() / sum);
    }
    std::fprintf(stderr, "xapian_query: checksum %llu\n", checksum);
    return 0;
}
