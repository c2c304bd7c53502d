#include "segment_merge.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "../common/error.h"
#include "../common/file_sync.h"
#include "../common/temp_file.h"
#include "bmp_store.h"
#include "codec.h"
#include "crc32c.h"
#include "format.h"
#include "list_writer.h"

namespace splade::index {
namespace {

std::string errno_text() { return std::strerror(errno); }

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void pread_exact(int fd, void* out, size_t n, uint64_t at, const std::string& path) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, std::min<size_t>(n, size_t{1} << 30), static_cast<off_t>(at));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(kIo, "cannot read " + path + ": " + errno_text());
    if (r == 0) fail(kCorruptFile, path + " is damaged: truncated");
    p += r, n -= static_cast<size_t>(r), at += static_cast<uint64_t>(r);
  }
}

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail(kIo, "cannot write " + path + ": " + errno_text());
    p += w, n -= static_cast<size_t>(w);
  }
}

// An anonymous file beside the target (created and unlinked at once: nothing is left after a
// crash), appended to through a buffer; what a section holds until the index is assembled.
class Spill {
 public:
  explicit Spill(const std::string& beside) : path_(temp_path_for(beside)) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) fail(kIo, "cannot create " + path_ + ": " + errno_text());
    ::unlink(path_.c_str());
    buf_.reserve(kBuffer);
  }
  Spill(const Spill&) = delete;
  Spill& operator=(const Spill&) = delete;
  ~Spill() { ::close(fd_); }

  void put(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    size_ += n;
    if (buf_.size() + n > kBuffer) drain();
    if (n >= kBuffer) return write_all(fd_, p, n, path_);
    buf_.insert(buf_.end(), p, p + n);
  }
  template <class T>
  void put_all(const std::vector<T>& v) { put(v.data(), v.size() * sizeof(T)); }
  uint64_t size() const { return size_; }

  // Appends everything written to out, extending crc.
  void copy_to(int out, const std::string& out_path, uint32_t& crc) {
    drain();
    std::vector<uint8_t> chunk(kBuffer);
    for (uint64_t at = 0; at < size_;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kBuffer, size_ - at));
      pread_exact(fd_, chunk.data(), n, at, path_);
      crc = crc32c(chunk.data(), n, crc);
      write_all(out, chunk.data(), n, out_path);
      at += n;
    }
  }

 private:
  static constexpr size_t kBuffer = size_t{1} << 20;
  void drain() {
    write_all(fd_, buf_.data(), buf_.size(), path_);
    buf_.clear();
  }
  std::string path_;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  uint64_t size_ = 0;
};

// One source segment, read term by term in order; its blocks and postings sections are checked
// against their CRC-32C as they are read (a well-formed file lays its lists out in term order).
class Source {
 public:
  Source(const MergeSource& src, const MergeOptions& o) : path_(src.path), fd_(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)) {
    if (fd_.fd < 0) fail(errno == ENOENT ? kCorruptFile : kIo, "cannot open " + path_ + ": " + errno_text());
    struct stat st {};
    if (::fstat(fd_.fd, &st) != 0 || !S_ISREG(st.st_mode)) fail(kCorruptFile, path_ + " is not a regular file");
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ < sizeof(Header)) damaged("too short");
    pread_exact(fd_.fd, &h_, sizeof h_, 0, path_);
    Header hz = h_;
    hz.header_crc = 0;
    if (std::memcmp(h_.magic, kMagic, 8) != 0 || h_.header_size != sizeof(Header) || crc32c(&hz, sizeof hz) != h_.header_crc) damaged("bad header");
    if (h_.version < kOldestFormatVersion || h_.version > kFormatVersion) damaged("unknown format version");
    if (h_.version > kListsFormatVersion) damaged("a segment without inverted lists (store 'compact') cannot be merged");
    if (h_.num_sections > 64) damaged("bad section table");
    table_.resize(h_.num_sections);
    pread_exact(fd_.fd, table_.data(), table_.size() * sizeof(SectionEntry), sizeof(Header), path_);
    if (crc32c(table_.data(), table_.size() * sizeof(SectionEntry)) != h_.table_crc) damaged("section table checksum mismatch");
    if (h_.block_size != o.block_size || h_.impact_bits != o.impact_bits || h_.vocab_size != o.vocab_size ||
        std::memcmp(&h_.scale, &o.scale, sizeof(float)) != 0) {
      damaged("built with other options than the index's");
    }
    for (const SectionEntry& e : table_) {
      if (e.offset > size_ || e.length > size_ - e.offset) damaged("a section lies beyond the file");
      if (e.id == kDocOrder) fail(kCorruptFile, path_ + ": a reordered segment cannot be merged");
    }
    const SectionEntry& terms = section(kTerms);
    blocks_ = section(kBlocks);
    postings_ = section(kPostings);
    ids_ = section(kDocIds);
    if (terms.length != uint64_t{h_.vocab_size} * sizeof(TermEntry) || blocks_.length != h_.num_blocks * sizeof(BlockEntry) ||
        postings_.length < kPostingsPadding) {
      damaged("section sizes do not match the header");
    }
    terms_.resize(h_.vocab_size);
    pread_exact(fd_.fd, terms_.data(), terms.length, terms.offset, path_);
    if (crc32c(terms_.data(), terms.length) != terms.crc) damaged("terms checksum mismatch");
    if (src.deleted && src.deleted_bytes != (uint64_t{h_.num_docs} + 7) / 8) {
      fail(kInvalidArgument, path_ + ": the deletion bitmap does not match its " + std::to_string(h_.num_docs) + " documents");
    }
    // kept_before[w]: documents below 64 * w that are kept.
    const uint32_t words = (h_.num_docs + 63) / 64;
    keep_.assign(words, ~uint64_t{0});
    if (h_.num_docs % 64) keep_.back() = (uint64_t{1} << (h_.num_docs % 64)) - 1;
    if (src.deleted) {
      for (uint32_t w = 0; w < words; ++w) {
        uint64_t del = 0;
        for (uint32_t b = 0; b < 8 && 8 * w + b < src.deleted_bytes; ++b) del |= uint64_t{src.deleted[8 * w + b]} << (8 * b);
        keep_[w] &= ~del;
      }
    }
    kept_before_.resize(words + 1);
    kept_before_[0] = 0;
    for (uint32_t w = 0; w < words; ++w) kept_before_[w + 1] = kept_before_[w] + static_cast<uint32_t>(__builtin_popcountll(keep_[w]));
  }

  uint32_t num_docs() const { return h_.num_docs; }
  uint32_t kept() const { return kept_before_.back(); }
  uint64_t num_postings() const { return h_.num_postings; }

  // Appends term t's kept postings, renumbered from base, to docs / imps.
  void read_term(uint32_t t, uint32_t base, std::vector<uint32_t>& docs, std::vector<uint32_t>& imps) {
    const TermEntry& te = terms_[t];
    if (te.df == 0) return;
    const uint64_t nb = (uint64_t{te.df} + h_.block_size - 1) / h_.block_size;
    if (te.first_block != blocks_read_ || te.data_offset != bytes_read_ || nb > h_.num_blocks - blocks_read_) damaged("posting lists out of order");
    block_buf_.resize(nb);
    pread_exact(fd_.fd, block_buf_.data(), nb * sizeof(BlockEntry), blocks_.offset + blocks_read_ * sizeof(BlockEntry), path_);
    blocks_crc_ = crc32c(block_buf_.data(), nb * sizeof(BlockEntry), blocks_crc_);
    blocks_read_ += nb;
    uint64_t bytes = 0;
    for (uint64_t b = 0; b < nb; ++b) {
      const BlockEntry& be = block_buf_[b];
      const uint32_t n = static_cast<uint32_t>(b + 1 < nb ? h_.block_size : te.df - b * h_.block_size);
      if (be.offset != bytes || be.doc_bits > 32 || be.impact_bits > 16) damaged("bad block entry");
      bytes += packed_bytes(n, be.doc_bits) + packed_bytes(n, be.impact_bits);
    }
    if (bytes > postings_.length - kPostingsPadding - bytes_read_) damaged("postings beyond their section");
    byte_buf_.assign(bytes + 16, 0);
    pread_exact(fd_.fd, byte_buf_.data(), bytes, postings_.offset + bytes_read_, path_);
    postings_crc_ = crc32c(byte_buf_.data(), bytes, postings_crc_);
    bytes_read_ += bytes;
    const uint32_t levels = (1u << h_.impact_bits) - 1;
    uint32_t prev = kEndDoc, d[kMaxBlockSize], m[kMaxBlockSize];
    const uint8_t* p = byte_buf_.data();
    for (uint64_t b = 0; b < nb; ++b) {
      const BlockEntry& be = block_buf_[b];
      const uint32_t n = static_cast<uint32_t>(b + 1 < nb ? h_.block_size : te.df - b * h_.block_size);
      unpack(p, n, be.doc_bits, d);
      p += packed_bytes(n, be.doc_bits);
      unpack(p, n, be.impact_bits, m);
      p += packed_bytes(n, be.impact_bits);
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t doc = prev + d[i] + 1;
        if ((prev != kEndDoc && doc <= prev) || doc >= h_.num_docs || m[i] + 1 > levels) damaged("bad document or impact in a posting list");
        prev = doc;
        const uint64_t bit = uint64_t{1} << (doc & 63);
        if (!(keep_[doc >> 6] & bit)) continue;
        docs.push_back(base + kept_before_[doc >> 6] + static_cast<uint32_t>(__builtin_popcountll(keep_[doc >> 6] & (bit - 1))));
        imps.push_back(m[i] + 1);
      }
      if (prev != be.last_doc) damaged("a block's last document does not match its entry");
    }
  }

  // After the last term: every block and posting byte was read, and both sections' checksums hold.
  void finish_lists() {
    uint8_t pad[kPostingsPadding];
    if (blocks_read_ != h_.num_blocks || postings_.length != bytes_read_ + kPostingsPadding) damaged("posting lists do not fill their sections");
    pread_exact(fd_.fd, pad, kPostingsPadding, postings_.offset + bytes_read_, path_);
    postings_crc_ = crc32c(pad, kPostingsPadding, postings_crc_);
    if (blocks_crc_ != blocks_.crc || postings_crc_ != postings_.crc) damaged("posting lists checksum mismatch");
  }

  // Appends the kept documents' ids: their byte lengths (to lengths) and bytes (to bytes).
  void copy_ids(std::vector<uint64_t>& offsets, uint64_t& at, Spill& offs_out, Spill& bytes_out) {
    const uint64_t n = h_.num_docs;
    if (ids_.length < (n + 1) * 8) damaged("document ids missing");
    const uint64_t bytes_at = ids_.offset + (n + 1) * 8, bytes_len = ids_.length - (n + 1) * 8;
    constexpr uint64_t kChunk = 1 << 16;
    std::vector<uint64_t> offs(kChunk + 1);
    std::vector<uint8_t> bytes;
    uint32_t crc = 0;
    uint64_t last = 0;
    for (uint64_t first = 0; first < n; first += kChunk) {
      const uint64_t c = std::min(kChunk, n - first);
      pread_exact(fd_.fd, offs.data(), (c + 1) * 8, ids_.offset + first * 8, path_);
      crc = crc32c(offs.data(), c * 8, crc);
      if (offs[0] != last || offs[c] < offs[0] || offs[c] > bytes_len) damaged("document id offsets out of range");
      for (uint64_t i = 0; i < c; ++i) if (offs[i + 1] < offs[i]) damaged("document id offsets out of range");
      last = offs[c];
      bytes.resize(offs[c] - offs[0]);
      pread_exact(fd_.fd, bytes.data(), bytes.size(), bytes_at + offs[0], path_);
      offsets.clear();
      for (uint64_t i = 0; i < c; ++i) {
        const uint64_t doc = first + i;
        if (!(keep_[doc >> 6] & (uint64_t{1} << (doc & 63)))) continue;
        offsets.push_back(at);
        at += offs[i + 1] - offs[i];
        bytes_out.put(bytes.data() + (offs[i] - offs[0]), offs[i + 1] - offs[i]);
      }
      offs_out.put_all(offsets);
    }
    // The checksum covers the whole section: the final offset, then the bytes (streamed).
    uint64_t end = 0;
    pread_exact(fd_.fd, &end, 8, ids_.offset + n * 8, path_);
    if (end != bytes_len || (n > 0 && end != last)) damaged("document id offsets out of range");
    crc = crc32c(&end, 8, crc);
    std::vector<uint8_t> chunk(1 << 20);
    for (uint64_t a = 0; a < bytes_len;) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(chunk.size(), bytes_len - a));
      pread_exact(fd_.fd, chunk.data(), k, bytes_at + a, path_);
      crc = crc32c(chunk.data(), k, crc);
      a += k;
    }
    if (crc != ids_.crc) damaged("document ids checksum mismatch");
  }

 private:
  [[noreturn]] void damaged(const std::string& what) const { fail(kCorruptFile, path_ + " is damaged: " + what); }
  SectionEntry section(SectionId id) const {
    for (const SectionEntry& e : table_) if (e.id == id) return e;
    damaged("section " + std::to_string(id) + " missing");
  }

  std::string path_;
  Fd fd_;
  uint64_t size_ = 0;
  Header h_{};
  std::vector<SectionEntry> table_;
  std::vector<TermEntry> terms_;
  SectionEntry blocks_{}, postings_{}, ids_{};
  std::vector<uint64_t> keep_;
  std::vector<uint32_t> kept_before_;
  std::vector<BlockEntry> block_buf_;
  std::vector<uint8_t> byte_buf_;
  uint64_t blocks_read_ = 0, bytes_read_ = 0;
  uint32_t blocks_crc_ = 0, postings_crc_ = 0;
};

}  // namespace

MergeResult merge_segments(const std::vector<MergeSource>& sources, const std::string& out_path, const MergeOptions& o) {
  if (o.block_size < kMinBlockSize || o.block_size > kMaxBlockSize) fail(kInvalidArgument, "blockSize must be in [16, 1024]");
  if (o.impact_bits != 8 && o.impact_bits != 16) fail(kInvalidArgument, "impactBits must be 8 or 16");
  if (o.bmp_block_docs > kBmpMaxBlockDocs) fail(kInvalidArgument, "bmpBlockDocs must be at most 256");
  std::vector<std::unique_ptr<Source>> src;
  std::vector<uint32_t> base;
  uint64_t num_docs = 0;
  for (const MergeSource& s : sources) {
    src.push_back(std::make_unique<Source>(s, o));
    base.push_back(static_cast<uint32_t>(num_docs));
    num_docs += src.back()->kept();
  }
  if (num_docs >= kEndDoc) fail(kOutOfRange, "too many documents (at most 2^32 - 2)");

  const uint32_t vocab = o.vocab_size;
  const bool with_bmp = o.bmp_block_docs > 0 && o.impact_bits == 8;
  Spill blocks(out_path), postings(out_path), id_offsets(out_path), id_bytes(out_path);
  std::unique_ptr<Spill> bmp_groups, bmp_max, bmp_count, bmp_postings;
  if (with_bmp) {
    bmp_groups = std::make_unique<Spill>(out_path), bmp_max = std::make_unique<Spill>(out_path);
    bmp_count = std::make_unique<Spill>(out_path), bmp_postings = std::make_unique<Spill>(out_path);
  }
  std::vector<TermEntry> term_table(vocab);
  std::vector<BmpTerm> bmp_terms(with_bmp ? vocab : 0);
  BmpWriter bmp(std::max<uint32_t>(1, o.bmp_block_docs));
  BmpTerm bmp_at{};  // what the store holds so far (the writer holds one term's)
  std::vector<uint32_t> docs, imps;
  std::vector<BlockEntry> term_blocks;
  std::vector<uint8_t> term_bytes;
  uint64_t num_blocks = 0, num_bytes = 0, num_postings = 0;
  for (uint32_t t = 0; t < vocab; ++t) {
    docs.clear(), imps.clear();
    for (size_t i = 0; i < src.size(); ++i) src[i]->read_term(t, base[i], docs, imps);
    TermEntry& te = term_table[t];
    te.first_block = static_cast<uint32_t>(num_blocks);
    te.data_offset = num_bytes;
    te.df = 0, te.max_impact = 0, te.reserved = 0;
    if (with_bmp) {
      bmp.add_term(docs.empty() ? nullptr : docs.data(), imps.empty() ? nullptr : imps.data(), docs.size(), bmp_terms[t]);
      bmp_terms[t].first_group += bmp_at.first_group, bmp_terms[t].first_block += bmp_at.first_block, bmp_terms[t].first_posting += bmp_at.first_posting;
      bmp_at.first_group += bmp.groups.size(), bmp_at.first_block += bmp.block_max.size(), bmp_at.first_posting += bmp.postings.size();
      bmp_groups->put_all(bmp.groups), bmp_max->put_all(bmp.block_max), bmp_count->put_all(bmp.block_count), bmp_postings->put_all(bmp.postings);
      bmp.groups.clear(), bmp.block_max.clear(), bmp.block_count.clear(), bmp.postings.clear();
    }
    if (docs.empty()) continue;
    term_blocks.clear(), term_bytes.clear();
    te.data_offset = 0;  // block offsets are relative to the list's start
    encode_list(docs.data(), imps.data(), docs.size(), o.block_size, te, term_blocks, term_bytes);
    te.data_offset = num_bytes;
    blocks.put_all(term_blocks);
    postings.put_all(term_bytes);
    num_blocks += term_blocks.size(), num_bytes += term_bytes.size(), num_postings += docs.size();
  }
  if (num_blocks > 0xFFFFFFFFu) fail(kOutOfRange, "too many blocks for the format");
  const uint8_t zeros[kPostingsPadding] = {};
  postings.put(zeros, kPostingsPadding);
  for (auto& s : src) s->finish_lists();
  {
    std::vector<uint64_t> offsets;
    uint64_t at = 0;
    for (auto& s : src) s->copy_ids(offsets, at, id_offsets, id_bytes);
    id_offsets.put(&at, 8);
  }

  // Assemble: header, section table, sections (8-byte aligned), as the builder lays them out.
  struct Section {
    SectionId id;
    std::vector<Spill*> parts;
    const void* data;
    uint64_t size;
  };
  std::vector<Section> sections = {
      {kTerms, {}, term_table.data(), term_table.size() * sizeof(TermEntry)},
      {kBlocks, {&blocks}, nullptr, blocks.size()},
      {kPostings, {&postings}, nullptr, postings.size()},
      {kDocIds, {&id_offsets, &id_bytes}, nullptr, id_offsets.size() + id_bytes.size()},
  };
  BmpMeta bmp_meta{};
  if (with_bmp) {
    const uint32_t bd = o.bmp_block_docs;
    const uint64_t nb = (num_docs + bd - 1) / bd;
    bmp_meta = BmpMeta{bd, kBmpSuperBlocks, static_cast<uint32_t>(nb), static_cast<uint32_t>((nb + kBmpSuperBlocks - 1) / kBmpSuperBlocks),
                       bmp_at.first_group, bmp_at.first_block, bmp_at.first_posting, 0};
    sections.push_back({kBmpMeta, {}, &bmp_meta, sizeof bmp_meta});
    sections.push_back({kBmpTerms, {}, bmp_terms.data(), bmp_terms.size() * sizeof(BmpTerm)});
    sections.push_back({kBmpSupers, {bmp_groups.get()}, nullptr, bmp_groups->size()});
    sections.push_back({kBmpBlocks, {bmp_max.get(), bmp_count.get()}, nullptr, bmp_max->size() + bmp_count->size()});
    sections.push_back({kBmpPostings, {bmp_postings.get()}, nullptr, bmp_postings->size()});
  }
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kListsFormatVersion;  // a merged segment has inverted lists
  h.header_size = sizeof(Header);
  h.num_sections = static_cast<uint32_t>(sections.size());
  h.block_size = o.block_size;
  h.impact_bits = o.impact_bits;
  h.num_docs = static_cast<uint32_t>(num_docs);
  h.vocab_size = vocab;
  h.scale = o.scale;
  h.num_postings = num_postings;
  h.num_blocks = num_blocks;
  std::vector<SectionEntry> table(sections.size());
  uint64_t at = sizeof(Header) + table.size() * sizeof(SectionEntry);
  for (size_t i = 0; i < sections.size(); ++i) {
    at = (at + 7) & ~uint64_t{7};
    table[i] = SectionEntry{sections[i].id, 0, at, sections[i].size};
    at += sections[i].size;
  }

  std::string dir = ".";
  const size_t slash = out_path.find_last_of('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : out_path.substr(0, slash);
  const std::string tmp = temp_path_for(out_path);
  Fd out(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (out.fd < 0) fail(kIo, "cannot create " + tmp + ": " + errno_text());
  try {
    std::vector<uint8_t> head(sizeof(Header) + table.size() * sizeof(SectionEntry), 0);
    write_all(out.fd, head.data(), head.size(), tmp);  // rewritten once the checksums are known
    uint64_t pos = head.size();
    for (size_t i = 0; i < sections.size(); ++i) {
      const uint64_t pad = table[i].offset - pos;
      write_all(out.fd, zeros, pad, tmp);
      uint32_t crc = 0;
      if (sections[i].data) {
        crc = crc32c(sections[i].data, sections[i].size);
        write_all(out.fd, sections[i].data, sections[i].size, tmp);
      }
      for (Spill* s : sections[i].parts) s->copy_to(out.fd, tmp, crc);
      table[i].crc = crc;
      pos = table[i].offset + sections[i].size;
    }
    h.table_crc = crc32c(table.data(), table.size() * sizeof(SectionEntry));
    h.header_crc = crc32c(&h, sizeof(Header));
    std::memcpy(head.data(), &h, sizeof h);
    std::memcpy(head.data() + sizeof h, table.data(), table.size() * sizeof(SectionEntry));
    if (::pwrite(out.fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size())) fail(kIo, "cannot write " + tmp + ": " + errno_text());
    if (sync_file(out.fd) != 0) fail(kIo, "cannot fsync " + tmp + ": " + errno_text());
    if (::rename(tmp.c_str(), out_path.c_str()) != 0) fail(kIo, "cannot rename " + tmp + " to " + out_path + ": " + errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    sync_file(dfd);
    ::close(dfd);
  }
  return MergeResult{static_cast<uint32_t>(num_docs), num_postings};
}

}  // namespace splade::index
