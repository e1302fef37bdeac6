// The pod NIC element, independent of the golden files: what RenderDomainXml
// writes for DomainSpec::network_interface, and that libvirt accepts it.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <pugixml.hpp>

#include "gtest/gtest.h"
#include "mapper/domain_spec.h"
#include "mapper/domain_xml.h"

namespace vmmap {
namespace {

DomainSpec MinimalSpec() {
  DomainSpec spec;
  spec.type = DomainType::kQemu;
  spec.name = "vmmap-nic-test";
  spec.uuid = "6f1b1c2e-8f4e-4c55-9d0f-1b2c3d4e5f60";
  spec.memory_kib = 262144;
  spec.owner = {"default", "web", "uid-1", 0, "0123456789abcdef", ""};
  return spec;
}

TEST(DomainXmlNetwork, NoInterfaceWithoutASpec) {
  absl::StatusOr<std::string> xml = RenderDomainXml(MinimalSpec());
  ASSERT_TRUE(xml.ok()) << xml.status();
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml->c_str()));
  EXPECT_FALSE(doc.child("domain").child("devices").child("interface"));
}

TEST(DomainXmlNetwork, UnmanagedTapWithThePodMacAndMtu) {
  DomainSpec spec = MinimalSpec();
  spec.network_interface = NetworkInterfaceSpec{"vmt0123456789ab", "52:54:00:12:34:56", 1450};
  absl::StatusOr<std::string> xml = RenderDomainXml(spec);
  ASSERT_TRUE(xml.ok()) << xml.status();
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml->c_str()));
  pugi::xml_node nic = doc.child("domain").child("devices").child("interface");
  ASSERT_TRUE(nic);
  EXPECT_STREQ(nic.attribute("type").value(), "ethernet");
  EXPECT_STREQ(nic.child("mac").attribute("address").value(), "52:54:00:12:34:56");
  EXPECT_STREQ(nic.child("target").attribute("dev").value(), "vmt0123456789ab");
  EXPECT_STREQ(nic.child("target").attribute("managed").value(), "no");
  EXPECT_STREQ(nic.child("model").attribute("type").value(), "virtio");
  EXPECT_EQ(nic.child("mtu").attribute("size").as_int(), 1450);

  // libvirt's own parser and schema accept it.
  virConnectPtr conn = virConnectOpen("test:///default");
  ASSERT_NE(conn, nullptr);
  virDomainPtr dom = virDomainDefineXMLFlags(conn, xml->c_str(), VIR_DOMAIN_DEFINE_VALIDATE);
  ASSERT_NE(dom, nullptr) << virGetLastErrorMessage() << "\n" << *xml;
  char* back = virDomainGetXMLDesc(dom, 0);
  ASSERT_NE(back, nullptr);
  EXPECT_NE(std::string(back).find("managed='no'"), std::string::npos) << back;
  free(back);
  EXPECT_EQ(virDomainUndefine(dom), 0);
  virDomainFree(dom);
  virConnectClose(conn);
}

}  // namespace
}  // namespace vmmap
