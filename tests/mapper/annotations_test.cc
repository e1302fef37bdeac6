#include "mapper/annotations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap {
namespace {

using ::testing::HasSubstr;

TEST(AnnotationsTest, QuotedValuesAreEscapedAndBounded) {
  EXPECT_EQ(QuoteValue("a\"b\n"), "\"a\\\"b\\n\"");
  const std::string long_value(1000, 'x');
  EXPECT_LT(QuoteValue(long_value).size(), 80u);
}

TEST(AnnotationsTest, ErrorsNeverEchoRawControlCharacters) {
  Annotations a{{kVcpusAnnotation, "<script>\x01"}};
  absl::StatusOr<std::optional<int>> v = RequestedVcpus(a, 16);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), HasSubstr("\\x01"));
  EXPECT_EQ(std::string(v.status().message()).find('\x01'), std::string::npos);
}

TEST(AnnotationsTest, AbsentMeansNoRequest) {
  EXPECT_FALSE(RequestedVcpus({}, 16)->has_value());
  EXPECT_FALSE(RequestedEmulatorMilli({}, 10, 2000)->has_value());
  EXPECT_EQ(**RequestedEmulatorMilli({{kEmulatorCpuAnnotation, "150"}}, 10, 2000), 150);
  EXPECT_EQ(**RequestedEmulatorMilli({{kEmulatorCpuAnnotation, "150m"}}, 10, 2000), 150);
}

}  // namespace
}  // namespace vmmap
