#include "mapper/quantity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap {
namespace {

using ::testing::HasSubstr;

int64_t Milli(const char* text) {
  absl::StatusOr<Quantity> q = Quantity::Parse(text, "f");
  EXPECT_TRUE(q.ok()) << text << ": " << q.status();
  absl::StatusOr<int64_t> v = q->Milli();
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return *v;
}

int64_t Units(const char* text) {
  absl::StatusOr<Quantity> q = Quantity::Parse(text, "f");
  EXPECT_TRUE(q.ok()) << text << ": " << q.status();
  absl::StatusOr<int64_t> v = q->Units();
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return *v;
}

TEST(QuantityTest, CpuForms) {
  EXPECT_EQ(Milli("100m"), 100);
  EXPECT_EQ(Milli("0.1"), 100);  // exactly, no binary floating point
  EXPECT_EQ(Milli("0.5"), 500);
  EXPECT_EQ(Milli("1"), 1000);
  EXPECT_EQ(Milli("1.5"), 1500);
  EXPECT_EQ(Milli(".5"), 500);
  EXPECT_EQ(Milli("2e3"), 2000000);
  EXPECT_EQ(Milli("2E-3"), 2);
  EXPECT_EQ(Milli("+3"), 3000);
  EXPECT_EQ(Milli("0"), 0);
  EXPECT_EQ(Milli("1k"), 1000000);
}

TEST(QuantityTest, MilliRoundsUpLikeKubernetes) {
  EXPECT_EQ(Milli("0.0001"), 1);
  EXPECT_EQ(Milli("1500u"), 2);
  EXPECT_EQ(Milli("1n"), 1);
}

TEST(QuantityTest, MemoryForms) {
  EXPECT_EQ(Units("1.5Gi"), 1610612736);
  EXPECT_EQ(Units("512Mi"), 536870912);
  EXPECT_EQ(Units("500M"), 500000000);
  EXPECT_EQ(Units("1k"), 1000);
  EXPECT_EQ(Units("1Ki"), 1024);
  EXPECT_EQ(Units("128974848"), 128974848);
  EXPECT_EQ(Units("129e6"), 129000000);
  EXPECT_EQ(Units("123Mi"), 128974848);
  EXPECT_EQ(Units("1Ei"), int64_t{1} << 60);
  EXPECT_EQ(Units("0.5Ki"), 512);
}

TEST(QuantityTest, RejectsWithFieldAndValue) {
  for (const char* bad :
       {"", "1.5x", "abc", "1..5", "Mi", "1 Gi", "1e", "1e+", "--1", "1Mi2", "0x10"}) {
    absl::StatusOr<Quantity> q = Quantity::Parse(bad, "spec.containers[0].resources.limits.cpu");
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(q.status().message(), HasSubstr("spec.containers[0].resources.limits.cpu"));
    EXPECT_THAT(q.status().message(), HasSubstr(std::string("\"") + bad + "\""));
  }
}

TEST(QuantityTest, NegativeAndOverflowAreErrors) {
  absl::StatusOr<Quantity> neg = Quantity::Parse("-1", "limits.cpu");
  ASSERT_TRUE(neg.ok());
  EXPECT_THAT(neg->Milli().status().message(), HasSubstr("must not be negative"));
  absl::StatusOr<Quantity> huge = Quantity::Parse("100Ei", "limits.memory");
  ASSERT_TRUE(huge.ok());
  EXPECT_THAT(huge->Units().status().message(), HasSubstr("too large"));
  absl::StatusOr<Quantity> huge_cpu = Quantity::Parse("1e30", "limits.cpu");
  ASSERT_TRUE(huge_cpu.ok());
  EXPECT_FALSE(huge_cpu->Milli().ok());
}

}  // namespace
}  // namespace vmmap
