// Closed-loop client of Xapian remote shards (xapian-tcpsrv), for the
// end-to-end peers scenario (bench/scenarios/peers.py); the loop and report
// are closedloop.h's.
//
//   xapian_e2e --target SHARDS --queries FILE [closedloop flags]
//
// SHARDS: one entry per shard, separated by ',', each one or more mirrors
// HOST:PORT separated by '|'. Each connection opens its own combined
// Database of every shard (Xapian::Remote::open, then add_database):
// Xapian has no mirrors of its own, so connection i uses mirror
// (i + shard) mod mirrors of each shard, which spreads the connections
// evenly over the replicas. Queries use sgsearch's simple forms (words
// ANDed, "OR" between words, "-w" excludes), scored with BM25 at sgsearch's
// parameters (k1 = 1.2, b = 0.75); TOP-10 is get_mset(0, 10), --counts
// get_mset(0, 0, doccount) so that the count is exact.
#include <xapian.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "closedloop.h"

namespace {

struct xconn {
    Xapian::Database db;
    Xapian::Enquire enq;
    explicit xconn(const Xapian::Database &d) : db(d), enq(db)
    {
        enq.set_weighting_scheme(Xapian::BM25Weight(1.2, 0, 1, 0.75, 0));
    }
};

std::vector<std::string> split(const std::string &s, char sep)
{
    std::vector<std::string> out;
    size_t from = 0;
    for (;;) {
        size_t at = s.find(sep, from);
        out.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
        if (at == std::string::npos)
            return out;
        from = at + 1;
    }
}

Xapian::Query parse(const char *text)
{
    std::istringstream in(text);
    std::string w;
    std::vector<std::string> pos_terms, not_terms;
    bool or_query = false;
    while (in >> w) {
        if (w == "OR")
            or_query = true;
        else if (w[0] == '-')
            not_terms.push_back(w.substr(1));
        else
            pos_terms.push_back(w);
    }
    Xapian::Query pos(or_query ? Xapian::Query::OP_OR : Xapian::Query::OP_AND, pos_terms.begin(),
                      pos_terms.end());
    if (not_terms.empty())
        return pos;
    Xapian::Query neg(Xapian::Query::OP_OR, not_terms.begin(), not_terms.end());
    return Xapian::Query(Xapian::Query::OP_AND_NOT, pos, neg);
}

void *x_open(const char *spec, int idx)
{
    try {
        Xapian::Database all;
        std::vector<std::string> shards = split(spec, ',');
        for (size_t s = 0; s < shards.size(); s++) {
            std::vector<std::string> mirrors = split(shards[s], '|');
            const std::string &m = mirrors[(size_t(idx) + s) % mirrors.size()];
            size_t colon = m.rfind(':');
            if (colon == std::string::npos) {
                std::fprintf(stderr, "xapian_e2e: %s is not HOST:PORT\n", m.c_str());
                return nullptr;
            }
            all.add_database(Xapian::Remote::open(m.substr(0, colon),
                                                  unsigned(std::atoi(m.c_str() + colon + 1))));
        }
        return new xconn(all);
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "xapian_e2e: open %s: %s\n", spec, e.get_description().c_str());
        return nullptr;
    }
}

long x_top10(void *conn, const char *q)
{
    xconn *c = static_cast<xconn *>(conn);
    try {
        c->enq.set_query(parse(q));
        return long(c->enq.get_mset(0, 10).size());
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "xapian_e2e: %s: %s\n", q, e.get_description().c_str());
        return -1;
    }
}

long x_count(void *conn, const char *q)
{
    xconn *c = static_cast<xconn *>(conn);
    try {
        c->enq.set_query(parse(q));
        return long(c->enq.get_mset(0, 0, c->db.get_doccount()).get_matches_estimated());
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "xapian_e2e: %s: %s\n", q, e.get_description().c_str());
        return -1;
    }
}

void x_close(void *conn)
{
    delete static_cast<xconn *>(conn);
}

} // namespace

int main(int argc, char **argv)
{
    static const cl_peer peer = {"xapian", x_open, x_top10, x_count, x_close};
    return cl_main(argc, argv, &peer);
}
