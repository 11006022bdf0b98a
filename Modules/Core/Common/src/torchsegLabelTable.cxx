#include "torchsegLabelTable.h"

#include "itkMacro.h"

#include <algorithm>

namespace torchseg
{

LabelTable::LabelTable(std::vector<LabelInfo> labels)
{
  for (const auto & label : labels)
  {
    this->Set(label);
  }
}

LabelTable
LabelTable::LiverTumour()
{
  LabelInfo liver;
  liver.value = 1;
  liver.name = "liver";
  liver.color = { { 221, 130, 101 } };
  liver.category = { "123037004", "SCT", "Anatomical Structure" };
  liver.type = { "10200004", "SCT", "Liver" };

  LabelInfo tumour;
  tumour.value = 2;
  tumour.name = "tumour";
  tumour.color = { { 240, 220, 60 } };
  tumour.category = { "49755003", "SCT", "Morphologically Altered Structure" };
  tumour.type = { "108369006", "SCT", "Neoplasm" };
  return LabelTable({ liver, tumour });
}

LabelTable
LabelTable::Generic(unsigned int numberOfForegroundLabels)
{
  LabelTable table;
  for (unsigned int v = 1; v <= numberOfForegroundLabels; ++v)
  {
    LabelInfo info;
    info.value = v;
    info.name = "label " + std::to_string(v);
    info.color = GenericLabelColor(v);
    table.Set(info);
  }
  return table;
}

const LabelInfo *
LabelTable::Find(unsigned int value) const
{
  const auto it =
    std::find_if(m_Labels.begin(), m_Labels.end(), [value](const LabelInfo & l) { return l.value == value; });
  return it == m_Labels.end() ? nullptr : &*it;
}

std::string
LabelTable::GetName(unsigned int value) const
{
  const LabelInfo * info = this->Find(value);
  return info ? info->name : "label " + std::to_string(value);
}

std::array<uint8_t, 3>
LabelTable::GetColor(unsigned int value) const
{
  const LabelInfo * info = this->Find(value);
  return info ? info->color : GenericLabelColor(value);
}

void
LabelTable::Set(const LabelInfo & info)
{
  if (info.value == 0)
  {
    itkGenericExceptionMacro(<< "Label value 0 is the background and cannot be given a class entry (name \""
                             << info.name << "\")");
  }
  if (info.name.empty())
  {
    itkGenericExceptionMacro(<< "Label " << info.value << " has an empty name");
  }
  auto it =
    std::find_if(m_Labels.begin(), m_Labels.end(), [&info](const LabelInfo & l) { return l.value == info.value; });
  if (it != m_Labels.end())
  {
    *it = info;
    return;
  }
  m_Labels.push_back(info);
  std::sort(
    m_Labels.begin(), m_Labels.end(), [](const LabelInfo & a, const LabelInfo & b) { return a.value < b.value; });
}

std::array<uint8_t, 3>
GenericLabelColor(unsigned int value)
{
  // A qualitative palette (Glasbey-like); repeats after 12 labels.
  static const std::array<std::array<uint8_t, 3>, 12> palette{ { { { 230, 25, 75 } },
                                                                 { { 60, 180, 75 } },
                                                                 { { 255, 225, 25 } },
                                                                 { { 0, 130, 200 } },
                                                                 { { 245, 130, 48 } },
                                                                 { { 145, 30, 180 } },
                                                                 { { 70, 240, 240 } },
                                                                 { { 240, 50, 230 } },
                                                                 { { 210, 245, 60 } },
                                                                 { { 250, 190, 212 } },
                                                                 { { 0, 128, 128 } },
                                                                 { { 170, 110, 40 } } } };
  if (value == 0)
  {
    return { { 0, 0, 0 } };
  }
  return palette[(value - 1) % palette.size()];
}

} // namespace torchseg
