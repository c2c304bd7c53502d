#include "index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "../common/error.h"
#include "../common/temp_file.h"
#include "../common/file_sync.h"
#include "codec.h"
#include "crc32c.h"

namespace splade::index {
namespace {

[[noreturn]] void corrupt(const std::string& what) { fail(kCorruptFile, "corrupt index: " + what); }

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::shared_ptr<Index> Index::from_image(std::vector<uint8_t> image) {
  std::shared_ptr<Index> ix(new Index());
  ix->owned_ = std::move(image);
  ix->data_ = ix->owned_.data();
  ix->size_ = ix->owned_.size();
  ix->validate();
  return ix;
}

std::shared_ptr<Index> Index::open(const std::string& path) {
  remove_stale_temps(path);  // what a save() killed before its rename left beside the file
  // O_NONBLOCK: opening a FIFO (or another special file) must not wait for a writer; the file type
  // is checked right after, and O_NONBLOCK does nothing to a regular file's reads or mapping.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(kIo, "cannot open index file " + path + ": " + errno_text());
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const std::string e = errno_text();
    ::close(fd);
    fail(kIo, "cannot stat index file " + path + ": " + e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(kIo, "index path " + path + " is not a regular file");
  }
  std::shared_ptr<Index> ix(new Index());
  ix->size_ = static_cast<size_t>(st.st_size);
  if (ix->size_ > 0) {
    void* p = mmap(nullptr, ix->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      const std::string e = errno_text();
      ::close(fd);
      fail(kIo, "cannot map index file " + path + ": " + e);
    }
    ix->map_ = p;
    ix->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  try {
    ix->validate();
  } catch (const SpladeError& e) {
    fail(e.code(), std::string(e.what()) + " (" + path + ")");
  }
  return ix;
}

Index::~Index() {
  if (map_) munmap(map_, size_);
}

void Index::validate() {
  if (size_ < 20 || std::memcmp(data_, kMagic, 8) != 0) {
    corrupt("not a splade index file (no SPLADEIX magic number; foreign or truncated file)");
  }
  uint32_t version, header_size, header_crc;
  std::memcpy(&version, data_ + 8, 4);
  std::memcpy(&header_size, data_ + 12, 4);
  std::memcpy(&header_crc, data_ + 16, 4);
  if (version < kOldestFormatVersion || version > kFormatVersion) {
    // Not damage: a version this build does not read (a newer splade wrote it, most likely).
    fail(kUnsupported, "unsupported index format version " + std::to_string(version) + ": this build of splade reads versions " +
                           std::to_string(kOldestFormatVersion) + " to " + std::to_string(kFormatVersion) +
                           (version > kFormatVersion ? " (the file was written by a newer splade: upgrade splade, or " : " (") +
                           "rebuild the index with this version: splade index --vectors ... --out ...)");
  }
  if (header_size != sizeof(Header) || size_ < sizeof(Header)) corrupt("truncated header");
  {
    Header h;
    std::memcpy(&h, data_, sizeof(Header));
    h.header_crc = 0;
    if (crc32c(&h, sizeof(Header)) != header_crc) corrupt("header checksum mismatch");
  }
  header_ = reinterpret_cast<const Header*>(data_);
  const Header& h = *header_;
  if (h.impact_bits != 8 && h.impact_bits != 16) corrupt("impact width must be 8 or 16 bits");
  if (h.block_size < kMinBlockSize || h.block_size > kMaxBlockSize) corrupt("block size out of range");
  if (!(h.scale > 0) || !std::isfinite(h.scale)) corrupt("scale must be positive and finite");
  if (h.num_docs >= kEndDoc) corrupt("too many documents");
  if (h.num_sections == 0 || h.num_sections > 64) corrupt("bad section count");
  const uint64_t table_end = sizeof(Header) + uint64_t{h.num_sections} * sizeof(SectionEntry);
  if (table_end > size_) corrupt("truncated section table");
  const auto* table = reinterpret_cast<const SectionEntry*>(data_ + sizeof(Header));
  if (crc32c(table, h.num_sections * sizeof(SectionEntry)) != h.table_crc) corrupt("section table checksum mismatch");

  // Sections lie in table order, 8-byte aligned, with zero padding between them and nothing after
  // the last: every byte of the file is covered by a checksum or a check.
  const SectionEntry* sec[kLastSection + 1] = {};
  uint64_t at = table_end;
  for (uint32_t i = 0; i < h.num_sections; ++i) {
    const SectionEntry& s = table[i];
    const std::string name = "section " + std::to_string(s.id);
    if (s.offset > size_ || s.length > size_ - s.offset) corrupt(name + " lies outside the file (truncated file?)");
    if (s.offset % 8 != 0 || s.offset < at || s.offset - at >= 8) corrupt(name + " misplaced");
    for (uint64_t b = at; b < s.offset; ++b)
      if (data_[b] != 0) corrupt("nonzero padding before " + name);
    // The block-max store is checked on first use (bmp()), so that opening stays cheap.
    const bool lazy = s.id >= kBmpMeta && s.id <= kBmpTopBlocks;
    if (!lazy && crc32c(data_ + s.offset, s.length) != s.crc) corrupt(name + " checksum mismatch");
    at = s.offset + s.length;
    if (s.id < kTerms || s.id > kLastSection) continue;  // sections this version does not know are skipped
    if (h.version < 2 && s.id > kDocIds) continue;
    if (h.version < 3 && s.id > kBmpPostings) continue;
    if (sec[s.id]) corrupt("duplicate " + name);
    sec[s.id] = &s;
  }
  if (at != size_) corrupt(at < size_ ? "trailing bytes after the last section" : "truncated file");
  // Version 3 has no lists: the packed block-max store (checked complete below) holds the postings.
  const bool lists = h.version < 3;
  lists_ = lists;
  if (!sec[kTerms] || !sec[kBlocks] != !lists || !sec[kPostings] != !lists) corrupt(lists ? "missing section" : "unexpected section");
  if (!lists && h.num_blocks != 0) corrupt("block count disagrees with the lists");

  if (sec[kTerms]->length != uint64_t{h.vocab_size} * sizeof(TermEntry)) corrupt("term table has the wrong size");
  terms_ = reinterpret_cast<const TermEntry*>(data_ + sec[kTerms]->offset);
  if (lists) {
    if (sec[kBlocks]->length != h.num_blocks * sizeof(BlockEntry)) corrupt("block table has the wrong size");
    if (sec[kPostings]->length < kPostingsPadding) corrupt("postings section too short");
    blocks_ = reinterpret_cast<const BlockEntry*>(data_ + sec[kBlocks]->offset);
    postings_ = data_ + sec[kPostings]->offset;
    postings_size_ = sec[kPostings]->length;
  }
  const uint64_t usable = lists ? postings_size_ - kPostingsPadding : 0;
  const uint32_t levels = (1u << h.impact_bits) - 1;
  unit_ = static_cast<float>(static_cast<double>(h.scale) / levels);

  // Every list: blocks inside the block table, bounds ascending and below num_docs, bytes inside the
  // postings section, widths and impacts in range.
  uint64_t postings = 0, next_block = 0;
  for (uint32_t t = 0; t < h.vocab_size; ++t) {
    const TermEntry& te = terms_[t];
    const std::string where = "term " + std::to_string(t);
    if (te.df > h.num_docs) corrupt(where + " has more postings than documents");
    if (!lists && (te.first_block != 0 || te.data_offset != 0)) corrupt(where + " points into lists the index has not");
    // Without lists, the term's df and max are checked against the block-max store (bmp()).
    const uint64_t nb = lists ? (uint64_t{te.df} + h.block_size - 1) / h.block_size : 0;
    if (te.first_block != next_block && te.df > 0) corrupt(where + " blocks out of order");
    if (uint64_t{te.first_block} + nb > h.num_blocks) corrupt(where + " blocks outside the block table");
    if (te.data_offset > usable) corrupt(where + " data outside the postings section");
    if (te.max_impact > levels || (te.df > 0 && te.max_impact == 0) || (te.df == 0 && te.max_impact != 0)) {
      corrupt(where + " max impact out of range");
    }
    int64_t prev_last = -1;
    uint32_t max_seen = 0;
    for (uint64_t b = 0; b < nb; ++b) {
      const BlockEntry& be = blocks_[te.first_block + b];
      const uint32_t n = b + 1 < nb ? h.block_size : static_cast<uint32_t>(te.df - b * h.block_size);
      if (be.doc_bits > 32 || be.impact_bits > 16) corrupt(where + " bit width out of range");
      if (int64_t{be.last_doc} <= prev_last || be.last_doc >= h.num_docs || int64_t{be.last_doc} < prev_last + n) {
        corrupt(where + " block bounds not ascending or beyond the documents");
      }
      if (be.max_impact == 0 || be.max_impact > te.max_impact) corrupt(where + " block max impact out of range");
      const uint64_t end = te.data_offset + be.offset + packed_bytes(n, be.doc_bits) + packed_bytes(n, be.impact_bits);
      if (end > usable) corrupt(where + " block bytes outside the postings section");
      prev_last = be.last_doc;
      max_seen = std::max<uint32_t>(max_seen, be.max_impact);
    }
    if (lists && te.df > 0 && max_seen != te.max_impact) corrupt(where + " max impact disagrees with its blocks");
    postings += te.df;
    next_block += nb;
  }
  if (postings != h.num_postings) corrupt("posting count disagrees with the lists");
  if (next_block != h.num_blocks) corrupt("block count disagrees with the lists");

  if (sec[kDocOrder]) {
    if (sec[kDocOrder]->length != uint64_t{h.num_docs} * 4) corrupt("document order has the wrong size");
    doc_order_ = reinterpret_cast<const uint32_t*>(data_ + sec[kDocOrder]->offset);
    std::vector<bool> seen(h.num_docs, false);
    for (uint32_t d = 0; d < h.num_docs; ++d) {
      if (doc_order_[d] >= h.num_docs || seen[doc_order_[d]]) corrupt("document order is not a permutation");
      seen[doc_order_[d]] = true;
    }
  }
  // Version 2: the store of bmp_format.h, optional; version 3: the packed one (bmp_packed.h), required.
  const SectionId store_ids[2][5] = {{kBmpMeta, kBmpTerms, kBmpSupers, kBmpBlocks, kBmpPostings},
                                     {kBmpMeta, kBmpTerms, kBmpPackedGroups, kBmpPackedEntries, kBmpPackedPostings}};
  int bmp_count = 0;
  for (int i = 0; i < 5; ++i) {
    bmp_sections_[i] = sec[store_ids[lists ? 0 : 1][i]];
    bmp_count += bmp_sections_[i] != nullptr;
    if (sec[store_ids[lists ? 1 : 0][i]] && i >= 2) corrupt("unexpected section");
  }
  if (bmp_count != 0 && bmp_count != 5) corrupt("block-max store incomplete");
  if (!lists && bmp_count == 0) corrupt("missing section");
  top_blocks_section_ = sec[kBmpTopBlocks];

  if (sec[kDocIds]) {
    const uint64_t table_bytes = (uint64_t{h.num_docs} + 1) * 8;
    if (sec[kDocIds]->length < table_bytes) corrupt("document id table truncated");
    doc_offsets_ = reinterpret_cast<const uint64_t*>(data_ + sec[kDocIds]->offset);
    doc_bytes_ = reinterpret_cast<const char*>(data_ + sec[kDocIds]->offset + table_bytes);
    doc_bytes_size_ = sec[kDocIds]->length - table_bytes;
    if (doc_offsets_[0] != 0 || doc_offsets_[h.num_docs] != doc_bytes_size_) corrupt("document id table inconsistent");
  }
}

const BmpStore& Index::bmp() const {
  std::lock_guard<std::mutex> lock(bmp_mutex_);
  if (bmp_ready_) return bmp_;
  if (!has_bmp()) {
    fail(kUnsupported, "this index has no block-max pruning store (built with impactBits 16 or bmp: false, or by an "
                       "older version): rebuild it with this version's defaults to search with 'bmp' or 'approximate'");
  }
  BmpStore::Section s[5];
  for (int i = 0; i < 5; ++i) {
    const SectionEntry& e = *bmp_sections_[i];
    if (crc32c(data_ + e.offset, e.length) != e.crc) corrupt("section " + std::to_string(e.id) + " checksum mismatch");
    s[i] = {data_ + e.offset, e.length};
  }
  // The top-block lists are checked whole on their first use (top_blocks()); their checksum goes
  // with the store's, so damage anywhere in the store's sections fails the first search that reads it.
  if (top_blocks_section_) {
    const SectionEntry& e = *top_blocks_section_;
    if (crc32c(data_ + e.offset, e.length) != e.crc) corrupt("section " + std::to_string(e.id) + " checksum mismatch");
  }
  BmpStore store;
  if (has_lists()) store.validate(s[0], s[1], s[2], s[3], s[4], num_docs(), vocab_size(), num_postings(), terms_);
  else store.validate_packed(s[0], s[1], s[2], s[3], s[4], num_docs(), vocab_size(), num_postings(), terms_);
  bmp_ = store;
  bmp_ready_ = true;
  return bmp_;
}

const TopBlockLists* Index::top_blocks() const {
  if (!top_blocks_section_) return nullptr;
  const BmpStore& st = bmp();
  std::lock_guard<std::mutex> lock(bmp_mutex_);
  if (!top_blocks_ready_) {
    const SectionEntry& e = *top_blocks_section_;  // its checksum was checked with the store's (bmp())
    top_blocks_ = view_top_blocks(data_ + e.offset, e.length, st, vocab_size());
    top_blocks_ready_ = true;
  }
  return &top_blocks_;
}

std::string Index::doc_id(uint32_t doc) const {
  if (!doc_offsets_) fail(kInvalidArgument, "this index stores no document ids");
  if (doc >= num_docs()) fail(kOutOfRange, "document " + std::to_string(doc) + " is not below numDocs");
  const uint64_t a = doc_offsets_[doc], b = doc_offsets_[doc + 1];
  if (a > b || b > doc_bytes_size_) corrupt("document id offsets out of range");
  return std::string(doc_bytes_ + a, doc_bytes_ + b);
}

void Index::save(const std::string& path) const {
  std::string dir = ".";
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  remove_stale_temps(path);
  const std::string tmp = temp_path_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(kIo, "cannot create " + tmp + ": " + errno_text());
  auto abort_with = [&](const std::string& what) {
    const std::string e = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(kIo, what + " " + tmp + ": " + e);
  };
  size_t done = 0;
  while (done < size_) {
    const ssize_t w = ::write(fd, data_ + done, std::min<size_t>(size_ - done, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      abort_with("cannot write");
    }
    done += static_cast<size_t>(w);
  }
  if (sync_file(fd) != 0) abort_with("cannot fsync");
  if (::close(fd) != 0) {
    const std::string e = errno_text();
    ::unlink(tmp.c_str());
    fail(kIo, "cannot close " + tmp + ": " + e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = errno_text();
    ::unlink(tmp.c_str());
    fail(kIo, "cannot rename " + tmp + " to " + path + ": " + e);
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    sync_file(dfd);
    ::close(dfd);
  }
}

}  // namespace splade::index
